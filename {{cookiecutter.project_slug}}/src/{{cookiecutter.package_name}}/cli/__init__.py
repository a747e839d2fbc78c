"""The command-line interface: the root app and one module per command group.

- `main.py`: the root app that mounts every group (the console script's entry point);
- `pipeline.py`: `run`, the five per-step commands Azure ML components call, `models`;
- `serve.py`: `serve` and `score-batch` on this machine;
- `azure.py`: `azure setup|submit|status|schedule`; `deploy.py`: `azure deploy|export-model|
  rollback|score-batch|status --endpoint`;
- `monitor.py`: `monitor drift|schedule`;
- `options.py` (shared options and settings), `errors.py` (error -> exit code), `progress.py`.

Nothing outside this package imports it. Heavy libraries are imported inside the commands so
`--help` stays fast.
"""

from .main import app

__all__ = ["app"]
