"""The Azure ML images install `requirements-azureml.lock`: everything the package imports (the
steps, the scoring script, the Azure helpers), at the pins of `requirements.lock`, and none of
the dev or infra extras (the cdktf provider bindings alone are hundreds of MB)."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
PACKAGE = next(path.parent for path in (PROJECT_DIR / "src").glob("*/__init__.py"))
NAMESPACES = {"azure", "azureml"}  # namespace packages: the distribution is one level down
NOT_RUNTIME = {
    "cdktf",
    "cdktf-cdktf-provider-azurerm",
    "constructs",
    "jsii",
    "pytest",
    "hypothesis",
    "ruff",
    "cruft",
    "cookiecutter",
}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    found = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def import_root(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in NAMESPACES and len(parts) > 1 else parts[0]


def imported_roots() -> set[str]:
    roots = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module in NAMESPACES:  # `from azure import identity`
                    names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in {"__future__", PACKAGE.name}:
                    continue
                roots.add(import_root(name))
    return roots


def distributions_by_root() -> dict[str, set[str]]:
    owners: dict[str, set[str]] = {}
    for dist in metadata.distributions():
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0].endswith((".dist-info", ".data")) or parts[0] == "..":
                continue
            if parts[0] in NAMESPACES and len(parts) > 2:
                root = f"{parts[0]}.{parts[1].removesuffix('.py')}"
            else:
                root = parts[0].removesuffix(".py")
            owners.setdefault(root, set()).add(normalize(dist.metadata["Name"]))
    return owners


def test_the_runtime_lock_is_the_full_lock_without_dev_or_infra_extras() -> None:
    runtime = pins(PROJECT_DIR / "requirements-azureml.lock")
    full = pins(PROJECT_DIR / "requirements.lock")
    assert runtime, "empty runtime lock"
    assert {name: full.get(name) for name in runtime} == runtime, "same pins as the full lock"
    assert not NOT_RUNTIME & set(runtime)
    assert NOT_RUNTIME & set(full), "the full lock still has the extras (the check is live)"


def test_every_import_of_the_package_is_in_the_runtime_lock() -> None:
    runtime = set(pins(PROJECT_DIR / "requirements-azureml.lock"))
    owners = distributions_by_root()
    roots = imported_roots()
    assert {"azure.ai", "azure.identity", "mlflow", "sklearn", "azureml_inference_server_http"} <= (
        roots
    )
    missing = {}
    for root in sorted(roots):
        providers = owners.get(root)
        assert providers, f"no installed distribution provides {root}"
        if not providers & runtime:
            missing[root] = sorted(providers)
    assert missing == {}, "imported by the package but missing from requirements-azureml.lock"
