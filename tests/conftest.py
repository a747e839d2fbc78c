"""Shared fixtures: the template location, answer sets, and baking with pytest-cookies.

`make test` runs the suite on every core with pytest-xdist (`--dist loadgroup`): tests that
share an expensive module fixture (a synthesis) carry one `xdist_group` so that one worker runs
them all, and slow tests are collected first so that they start first.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE_DIR / "scripts"))
sys.path.insert(0, str(Path(__file__).parent))

DEFAULTS = {
    key: value[0] if isinstance(value, list) else value
    for key, value in json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text()).items()
    if not key.startswith("_")
}


@pytest.fixture(scope="session", autouse=True)
def project_template_is_clean():
    """Cookiecutter copies everything in the project template, caches included: stop early."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--", "{{cookiecutter.project_slug}}"],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    debris = [line[3:] for line in status.stdout.splitlines() if line.startswith("!! ")]
    if debris:
        pytest.exit(
            f"the project template holds ignored files that every bake would copy: {debris}. "
            "Remove them with: git clean -fdX '{{cookiecutter.project_slug}}'",
            returncode=2,
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (stable order otherwise): the workers then finish at about the same time."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def load_hook(name: str) -> ModuleType:
    """Import a hook file as a module; its Jinja lives only inside string literals."""
    spec = importlib.util.spec_from_file_location(name, TEMPLATE_DIR / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def pre_gen() -> ModuleType:
    return load_hook("pre_gen_project")


@pytest.fixture(scope="session")
def post_gen() -> ModuleType:
    return load_hook("post_gen_project")


@pytest.fixture
def valid_answers() -> dict:
    """The answers cookiecutter renders from the defaults, as the hooks receive them."""
    return {
        **DEFAULTS,
        "project_slug": "customer-churn",
        "package_name": "customer_churn",
        "resource_prefix": "custom",
        "primary_metric": "roc_auc",  # the default's Jinja, rendered for task=classification
    }


@pytest.fixture
def bake(cookies):
    """Bake with overrides and fail loudly with cookiecutter's own error if it did not work."""

    def _bake(**answers: str) -> Path:
        result = cookies.bake(extra_context=answers)
        assert result.exit_code == 0, f"bake failed: {result.exception!r}"
        return Path(result.project_path)

    return _bake
