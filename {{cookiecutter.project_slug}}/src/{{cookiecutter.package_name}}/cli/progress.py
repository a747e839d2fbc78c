"""Step progress: a spinner on a terminal, plain lines in CI logs and pipes."""

from __future__ import annotations

from rich.console import Console
from rich.status import Status

console = Console(highlight=False)


class ConsoleProgress:
    """A `pipeline.StepObserver` for people: one line per finished step with its summary."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.index = 0
        self.status: Status | None = None

    def step_started(self, name: str) -> None:
        self.index += 1
        label = f"[{self.index}/{self.total}] {name}"
        if console.is_terminal:
            self.status = console.status(f"{label} ...")
            self.status.start()
        else:
            console.print(f"{label} ...")

    def step_finished(self, name: str, seconds: float, summary: str) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None
        console.print(
            f"[green]✓[/green] [{self.index}/{self.total}] {name} ({seconds:.1f}s): {summary}",
            soft_wrap=True,
        )

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
