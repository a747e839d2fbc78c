"""Run baked projects' own test suites, and the main job, as a user would after baking.

Each suite runs in parts (a few test files each, one process per part) so that pytest-xdist can
spread them over the workers; together the parts are the whole suite, which
`test_suite_parts_cover_every_test_file` checks. A new test file joins the part its name
matches, or `unit`. Bakes run their own source through PYTHONPATH (`bake_isolated`), so
parallel workers never re-point the shared venv's editable install under each other.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path

import pytest
from answers import MATRIX
from conftest import TEMPLATE_DIR
from template_tools import bake_isolated

# The default bake runs its whole suite. The second bake changes every answer the suite's
# outcome depends on: the task (regression), another CI provider, the public network mode, two
# environments, another metric and model family, and a package name unlike its slug (the names
# Azure objects take, docs/architecture.md). Its parts that those answers shape run whole; the
# others run their fast tier, because their slow tests (serving, monitoring loops, concurrent
# runs) train and serve the same way whatever the answers, and the default bake runs them.
# Every bake's suite tests both tasks (its `project` and `regression_project` fixtures), so
# the default bake's whole suite also covers regression's serving and monitoring loops.
# The third bake covers answers the other two leave at their defaults (both CI providers,
# AutoML, three environments, another region, another metric: a metric or region a test
# assumed has broken baked suites before) in those answer-shaped parts only.
SUITES = [
    "default",
    "regression-azure-devops-public-mae-forest-own-package",
    "both-ci-automl-logreg-three-envs",
]
SHAPED_PARTS_ONLY = {"both-ci-automl-logreg-three-envs"}
ANSWER_SHAPED_PARTS = {"infra", "pipeline", "azure"}
PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
# First match wins; what matches nothing is `unit`. Slow parts first, so they start first.
PARTS = {
    "infra": ["infra/tests/test_*.py"],
    "pipeline": ["tests/test_pipeline.py", "tests/test_automl.py", "tests/test_regression_*.py"],
    "serving": ["tests/test_serving_*.py"],
    "azure": ["tests/test_azure*.py"],
    "monitoring": ["tests/test_monitor*.py"],
}
TEST_FOLDERS = ("tests", "infra/tests")


def suite_test_files(project: Path) -> list[str]:
    return sorted(
        path.relative_to(project).as_posix()
        for folder in TEST_FOLDERS
        for path in (project / folder).rglob("test_*.py")
    )


def part_of(test_file: str) -> str:
    return next(
        (part for part, globs in PARTS.items() if any(fnmatch(test_file, g) for g in globs)),
        "unit",
    )


def parts(project: Path) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {part: [] for part in [*PARTS, "unit"]}
    for test_file in suite_test_files(project):
        grouped[part_of(test_file)].append(test_file)
    return {part: files for part, files in grouped.items() if files}


# Known at collection time from the project template (test file names carry no Jinja).
SUITE_PARTS = [
    pytest.param(combination, part, id=f"{combination}-{part}")
    for combination in SUITES
    for part in parts(PROJECT_TEMPLATE)
    if combination not in SHAPED_PARTS_ONLY or part in ANSWER_SHAPED_PARTS
]


def selection(combination: str, part: str) -> list[str]:
    """What of a part runs for a combination: all of it, or its fast tier (see SUITES)."""
    whole = combination == SUITES[0] or part in ANSWER_SHAPED_PARTS
    return [] if whole else ["-m", "not slow"]


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def baked_suite(tmp_path_factory) -> Callable[[str], tuple[Path, dict[str, str]]]:
    """One bake per combination and worker, shared by every part that runs it."""
    bakes: dict[str, tuple[Path, dict[str, str]]] = {}

    def get(combination: str) -> tuple[Path, dict[str, str]]:
        if combination not in bakes:
            folder = tmp_path_factory.mktemp(f"suite-{combination}")
            bakes[combination] = bake_isolated(folder, **MATRIX[combination])
        return bakes[combination]

    return get


def test_suite_parts_cover_every_test_file(baked_suite):
    project, _ = baked_suite(SUITES[0])
    testpaths = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"
    ]["testpaths"]
    assert sorted(testpaths) == sorted(TEST_FOLDERS), "a new test folder needs a part"
    in_parts = sorted(test_file for files in parts(project).values() for test_file in files)
    assert in_parts == suite_test_files(project)
    assert parts(project).keys() == parts(PROJECT_TEMPLATE).keys()  # what collection saw


@pytest.mark.slow
@pytest.mark.parametrize(("combination", "part"), SUITE_PARTS)
def test_baked_project_suite_passes(baked_suite, combination, part):
    project, env = baked_suite(combination)
    result = subprocess.run(
        [str(project / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider"]
        + selection(combination, part)
        + parts(project)[part],
        cwd=project,
        env=env,
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
        # The default bake's whole suite runs above: the demo leaves its fast tests out.
        [sys.executable, str(TEMPLATE_DIR / "scripts" / "demo.py"), "--isolated", "--skip-tests"],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, tail(result.stdout + result.stderr)
    assert re.search(r"All \d+ steps passed", result.stdout), tail(result.stdout)
