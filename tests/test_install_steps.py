"""Every install precompiles bytecode: the template's and the project's `setup`, hence CI.

With PYTHONDONTWRITEBYTECODE=1 (many CI runners and containers) nothing caches bytecode at
run time, so an install that skips it makes every later process recompile every import.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import TEMPLATE_DIR

PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
INSTALL = re.compile(r"\buv pip (sync|install)\b|\bpip install\b(?!.*\buv==)")
# Where each provider installs the project: GitHub's checks job, Azure DevOps' setup template.
PROJECT_INSTALLERS = [
    PROJECT_TEMPLATE / ".github" / "workflows" / "ci.yml",
    PROJECT_TEMPLATE / ".azure-pipelines" / "setup.yml",
]
PROJECT_CI = sorted(
    [
        *(PROJECT_TEMPLATE / ".github" / "workflows").glob("*.yml"),
        PROJECT_TEMPLATE / "azure-pipelines.yml",
        *(PROJECT_TEMPLATE / ".azure-pipelines").glob("*.yml"),
    ]
)


MAKEFILES = {"template": TEMPLATE_DIR / "Makefile", "project": PROJECT_TEMPLATE / "Makefile"}


@pytest.mark.parametrize("makefile", MAKEFILES.values(), ids=MAKEFILES.keys())
def test_every_install_precompiles_bytecode(makefile: Path) -> None:
    installs = [line.strip() for line in makefile.read_text().splitlines() if INSTALL.search(line)]
    assert len(installs) >= 2, "no install found: the pattern no longer matches the Makefile"
    assert [line for line in installs if "--compile-bytecode" not in line] == []


@pytest.mark.parametrize("ci", PROJECT_INSTALLERS, ids=lambda path: path.name)
def test_generated_ci_installs_through_make_setup(ci: Path) -> None:
    assert "make setup" in ci.read_text()


@pytest.mark.parametrize("ci", PROJECT_CI, ids=lambda path: path.relative_to(PROJECT_TEMPLATE))
def test_generated_ci_installs_nothing_outside_make_setup(ci: Path) -> None:
    text = ci.read_text()
    assert not INSTALL.search(text), "an install outside `make setup` would skip its settings"


def test_linking_a_bake_keeps_both_setups_honest(bake) -> None:
    """A baked project reuses the template's installs: its `make setup` must see them as up to
    date (or it would reinstall into the shared copies), and the template's own stamps must
    keep their dates (or a real lock change would never reinstall the template)."""
    import subprocess

    from template_tools import SHARED_ENVIRONMENTS, link_shared_environments

    stamps = [TEMPLATE_DIR / name / ".installed" for name in SHARED_ENVIRONMENTS]
    before = [stamp.stat().st_mtime_ns for stamp in stamps]
    project = bake()
    link_shared_environments(project)
    assert [stamp.stat().st_mtime_ns for stamp in stamps] == before
    up_to_date = subprocess.run(["make", "-q", "setup"], cwd=project, check=False)
    assert up_to_date.returncode == 0, "the baked project's `make setup` would reinstall"
