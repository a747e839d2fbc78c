"""Light commands stay light: `--help` of every command imports no heavy library.

Start-up is paid on every command a user types, every test that starts a process and every
Azure ML job start. A timed test would be flaky on a busy runner, so this checks the cause in a
fresh interpreter: which modules the command imported. `benchmarks/startup.py` measures times.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PACKAGE = "{{ cookiecutter.package_name }}"
# Each costs a second or more to import; a light command needs none of them.
HEAVY = (
    "mlflow",
    "sqlalchemy",
    "sklearn",
    "pandas",
    "pyarrow",
    "scipy",
    "optuna",
    "matplotlib",
    "azure.ai.ml",
    "azureml",
    "cdktf",
)
# Runs the command in-process (as the console script does), then reports what got imported.
PROBE_BODY = """
import json, sys
from {{ cookiecutter.package_name }}.cli import app
code = 0
try:
    app(sys.argv[1:], prog_name="{{ cookiecutter.package_name }}")
except SystemExit as exit:
    code = exit.code or 0
heavy = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
print("PROBE " + json.dumps({"exit": code, "heavy": heavy}), file=sys.stderr)
"""
PROBE = f"HEAVY = {HEAVY!r}\n{PROBE_BODY}"


def probe(cwd: Path, *args: str) -> tuple[dict, str]:
    """Run `<package> ARGS` in a fresh interpreter; return the probe's report and the output."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    report = result.stderr.rsplit("PROBE ", 1)
    assert len(report) == 2, result.stdout + result.stderr
    return json.loads(report[1]), result.stdout + report[0]


def command_paths() -> list[list[str]]:
    """Every command and sub-command of the CLI, as argument lists (sub-apps included)."""
    from typer.main import get_command

    from {{ cookiecutter.package_name }}.cli import app

    paths: list[list[str]] = [[]]

    def walk(command, prefix: list[str]) -> None:
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            paths.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(get_command(app), [])
    return paths


def test_every_help_is_light(tmp_path: Path) -> None:
    paths = command_paths()
    assert {"run", "models", "serve", "score-batch"} <= {path[0] for path in paths if path}
    for path in paths:
        report, output = probe(tmp_path, *path, "--help")
        assert report["exit"] == 0, output
        assert "Usage" in output, output
        assert report["heavy"] == [], f"`{' '.join([PACKAGE, *path])} --help` imported them"
