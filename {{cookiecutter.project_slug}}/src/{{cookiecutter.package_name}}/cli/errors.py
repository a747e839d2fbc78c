"""The one mapping from errors to exit codes: bad input and Azure's refusals end as one line
on stderr and exit 1; anything else is a bug and keeps its stack trace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import PipelineError

EXIT_ERROR = 1
EXIT_TIMEOUT = 124  # `--wait` ran out of time (the convention of coreutils' `timeout`)

errors = Console(stderr=True, highlight=False)


def _message(error: Exception) -> str | None:
    """What to print for an expected error, None for a bug. Azure's own messages run to many
    lines of diagnostics; their first line says what was refused."""
    if isinstance(error, PipelineError | FileNotFoundError):
        return str(error)
    from azure.core.exceptions import AzureError

    if isinstance(error, AzureError):
        text = str(error).strip()
        return text.splitlines()[0] if text else type(error).__name__
    return None


def fail(error: Exception) -> typer.Exit:
    """Print `error` as one clean line; the caller raises the returned Exit."""
    errors.print(f"[red]Error:[/red] {escape(_message(error) or str(error))}", soft_wrap=True)
    return typer.Exit(code=EXIT_ERROR)


@contextmanager
def exit_on_error() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        if _message(error) is None:
            raise
        raise fail(error) from None
