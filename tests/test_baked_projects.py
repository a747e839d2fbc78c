"""Run baked projects' own test suites, and the main job, as a user would after baking."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from answers import MATRIX
from conftest import TEMPLATE_DIR
from template_tools import bake_and_install

# The default bake, and a public sandbox on Azure DevOps with another metric and model family,
# so both network modes' infrastructure and two gate configurations run for real.
SUITES = ["default", "azure-devops-public-sandbox-f1-forest"]


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.mark.slow
@pytest.mark.parametrize("combination", SUITES)
def test_baked_project_suite_passes(tmp_path, combination):
    project = bake_and_install(tmp_path, **MATRIX[combination])
    result = subprocess.run(
        [str(project / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, tail(result.stdout + result.stderr)
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary, summary


@pytest.mark.slow
def test_main_job_runs_end_to_end():
    result = subprocess.run(
        [sys.executable, str(TEMPLATE_DIR / "scripts" / "demo.py")],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, tail(result.stdout + result.stderr)
    assert re.search(r"All \d+ steps passed", result.stdout), tail(result.stdout)
