"""The template's own Python (hooks, tests, scripts, bootstrap infra) is ruff-clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE_DIR

RUFF = Path(sys.executable).parent / "ruff"
# Named folders, not ".": ruff would otherwise read the project template's Jinja pyproject.toml.
TEMPLATE_PYTHON = [
    name for name in ("hooks", "tests", "scripts", "infra") if (TEMPLATE_DIR / name).is_dir()
]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff(command):
    result = subprocess.run(
        [str(RUFF), *command, "--no-cache", *TEMPLATE_PYTHON],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
