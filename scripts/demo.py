"""The main job: bake a default project into .demo/ and run everything it offers, end to end.

Each step runs the project's own commands (its Makefile targets and CLI), exactly as a user
would after baking, so the demo proves the README rather than re-implementing it.

    python scripts/demo.py [--isolated] [--skip-tests]

`--isolated` (used by the template tests, which run beside other bakes) leaves the shared
venv's editable install alone; the project's commands run the bake's source through PYTHONPATH
either way (see template_tools). `--skip-tests` leaves out the bake's fast tests: the template
tests run the default bake's whole suite themselves, so the demo need not run a third of it
again inside their time budget.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console
from rich.table import Table
from template_tools import TEMPLATE_DIR, bake_and_install, bake_isolated, isolated_environment

DEMO_DIR = TEMPLATE_DIR / ".demo"
console = Console()


@dataclass
class Step:
    title: str
    run: Callable[[Path], str]
    seconds: float = 0.0
    outcome: str = ""
    ok: bool = field(default=False)


def sh(project: Path, *command: str, log: Path, env: dict | None = None) -> str:
    """Run a project command, keeping its full output in the log; fail with the log's tail."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(
            command,
            cwd=project,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-25:])
        raise RuntimeError(f"`{' '.join(command)}` exited {result.returncode}\n{tail}")
    return log.read_text().rsplit(f"$ {' '.join(command)}\n", 1)[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_and_score(project: Path, package: str, log: Path) -> str:
    """Start the champion's scoring server, send one real request, and stop it."""
    port = free_port()
    with log.open("a") as out:
        server = subprocess.Popen(
            [str(project / ".venv/bin" / package), "serve", "--port", str(port)],
            cwd=project,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the scoring server did not come up; see the log") from None
                time.sleep(0.5)
        target = yaml.safe_load((project / "config" / "pipeline.yaml").read_text())["data"][
            "target"
        ]
        rows = pd.read_csv(project / "data" / "sample.csv", nrows=3).drop(columns=[target])
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/score",
            data=rows.to_json(orient="records").encode(),  # typed values, null for missing
            headers={"Content-Type": "application/json"},
        )
        answer = urllib.request.urlopen(request, timeout=10).read().decode()
        return f"POST /score -> {answer[:120]}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--isolated", action="store_true", help="Do not re-point the shared editable install."
    )
    parser.add_argument(
        "--skip-tests", action="store_true", help="Leave out the bake's fast tests."
    )
    args = parser.parse_args()
    isolated = args.isolated
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir()
    log = DEMO_DIR / "demo.log"
    state: dict[str, Path | str] = {}

    def bake(_: Path) -> str:
        project = bake_isolated(DEMO_DIR)[0] if isolated else bake_and_install(DEMO_DIR)
        os.environ.update(isolated_environment(project))  # every later command runs this bake
        state["project"] = project
        state["package"] = project.name.replace("-", "_")
        return f"baked {project.relative_to(TEMPLATE_DIR)} and installed it from its lock files"

    def project() -> Path:
        return state["project"]  # type: ignore[return-value]

    def cli(*args: str) -> tuple[str, ...]:
        return (str(project() / ".venv" / "bin" / str(state["package"])), *args)

    steps = [
        Step("Bake the default project and install it", bake),
        Step(
            "Lint: ruff, actionlint, zizmor",
            lambda _: sh(project(), "make", "lint", log=log) and "clean",
        ),
        *(
            []
            if args.skip_tests
            else [
                Step(
                    "Fast tests",
                    lambda _: last_line(
                        sh(project(), "make", "--no-print-directory", "test-fast", log=log)
                    ),
                )
            ]
        ),
        Step(
            "Train, evaluate, register, promote",
            lambda _: expect(last_line(sh(project(), *cli("run"), log=log)), "new champion"),
        ),
        Step(
            "A worse challenger is refused",
            lambda _: expect(
                last_line(sh(project(), *cli("run", "--model-family", "dummy"), log=log)),
                "not promoted; champion v1 kept",
            ),
        ),
        Step(
            "Registry: versions and champion",
            lambda _: last_line(sh(project(), *cli("models"), log=log)),
        ),
        Step(
            "Serve the champion and score a request",
            lambda _: serve_and_score(project(), str(state["package"]), log),
        ),
        Step(
            "Batch-score the sample file",
            lambda _: last_line(
                sh(
                    project(),
                    *cli("score-batch", "data/sample.csv", ".demo-scored.parquet"),
                    log=log,
                )
            ),
        ),
        Step(
            "Synthesize every environment and scan it with checkov",
            lambda _: "; ".join(
                line
                for line in sh(
                    project(), "make", "--no-print-directory", "scan", log=log
                ).splitlines()
                if " passed, " in line
            ),
        ),
    ]

    console.rule("[bold]cookiecutter-azureml-mlops demo")
    failed = None
    for number, step in enumerate(steps, 1):
        started = time.monotonic()
        with console.status(f"[{number}/{len(steps)}] {step.title}..."):
            try:
                step.outcome = step.run(DEMO_DIR)
                step.ok = True
            except Exception as error:  # report the failing step, keep the log
                step.outcome = str(error)
        step.seconds = time.monotonic() - started
        mark = "[green]ok[/]" if step.ok else "[red]FAILED[/]"
        console.print(f"[{number}/{len(steps)}] {step.title}: {mark} ({step.seconds:.1f} s)")
        if not step.ok:
            failed = step
            break

    table = Table(title="Summary", show_lines=False)
    for column in ("step", "result", "seconds"):
        table.add_column(column)
    for step in steps:
        status = "ok" if step.ok else ("FAILED" if step is failed else "skipped")
        detail = step.outcome.splitlines()[0][:90] if step.outcome else ""
        table.add_row(
            step.title, f"{status}: {detail}" if detail else status, f"{step.seconds:.1f}"
        )
    console.print(table)
    console.print(f"Full output: {log.relative_to(TEMPLATE_DIR)}")
    if failed:
        console.print(f"[red]{failed.outcome}")
        return 1
    console.print(f"[green]All {len(steps)} steps passed.[/] Project: {project()}")
    return 0


def expect(outcome: str, phrase: str) -> str:
    """A step that exits 0 but did not do what it claims is a failure too."""
    if phrase not in outcome:
        raise RuntimeError(f"expected {phrase!r} in: {outcome}")
    return outcome


def last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


if __name__ == "__main__":
    sys.exit(main())
