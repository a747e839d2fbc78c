"""`serve` and `score-batch`: the deployed model on this machine, as Azure runs it.

Heavy imports (mlflow, pandas, sklearn) happen inside the functions so `--help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .errors import exit_on_error


def serve(
    port: Annotated[int, typer.Option(help="Port for the scoring and health routes.")] = 5001,
    workers: Annotated[int, typer.Option(min=1, help="Server worker processes.")] = 2,
    version: Annotated[
        str | None,
        typer.Option(
            help="Registered model version to serve (default: the one the last deploy recorded)."
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the model to the network.")
    ] = "127.0.0.1",
) -> None:
    """Serve the deployed model over HTTP with the server Azure online endpoints run."""
    from ..config import load_settings
    from ..serving.local import resolve_model_dir, run_server, server_environment

    with exit_on_error():
        model_dir = resolve_model_dir(version)
    typer.echo(f"Serving {model_dir} on http://{host}:{port}/score (health: GET /)")
    settings = load_settings()
    log = settings.monitoring.inference_log
    log_dir = settings.resolve(log.path) if log.enabled else None
    if log_dir is not None:
        typer.echo(f"Logging requests to {log_dir} (`monitor drift --since 24h` reads them)")
    env = server_environment(
        model_dir,
        log_dir,
        log.flush_seconds,
        compact_minutes=log.compact_minutes,
        retention_days=log.retention_days,
    )
    run_server(model_dir, port=port, workers=workers, host=host, env=env)  # does not return


def score_batch(
    input_path: Annotated[Path, typer.Argument(help="CSV or Parquet file to score.")],
    output_path: Annotated[
        Path, typer.Argument(help="Where to write predictions (.csv/.parquet).")
    ],
    chunk_rows: Annotated[
        int, typer.Option(min=1, help="Rows per chunk (bounds memory).")
    ] = 50_000,
    version: Annotated[
        str | None,
        typer.Option(
            help="Registered model version to use (default: the one the last deploy recorded)."
        ),
    ] = None,
    keep_columns: Annotated[
        bool, typer.Option(help="Copy the input columns next to the predictions.")
    ] = False,
) -> None:
    """Score a file of any size in chunks, like an Azure batch endpoint, with bounded memory."""
    from ..serving.batch import score_file
    from ..serving.local import resolve_model_dir

    with exit_on_error():  # BatchInputError is a PipelineError
        model_dir = resolve_model_dir(version)
        summary = score_file(
            model_dir, input_path, output_path, chunk_rows=chunk_rows, keep_columns=keep_columns
        )
    typer.echo(
        f"Scored {summary.rows:,} rows in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s) -> {output_path}"
    )


COMMANDS = {"serve": serve, "score-batch": score_batch}
