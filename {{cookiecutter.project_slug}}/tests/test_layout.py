"""The package's layout keeps its architecture: imports point down the layers, with no cycle.

The import graph is read from the source with `ast` (every import, inside functions too, since
a late import still ties two modules together), so it holds for code paths no test runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import {{ cookiecutter.package_name }} as package

PACKAGE_DIR = Path(package.__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name
# Lowest first: a module may import from its own layer and the ones before it. Top-level
# modules not named here (config, data, train, registry, families, ...) are the core, layer 0.
LAYERS = ("steps", "pipeline", "serving", "azure", "monitoring", "cli", "__main__")
# Imports that point up, each a known and reviewed exception (at most two are allowed).
REVIEWED_UPWARD = {
    # The training step stores the serving fast path, verified by the very code that verifies
    # it when a model is loaded (serving/stored.py): one check, not a copy of it in steps.
    ("steps.train", "serving.scoring"),
    # and the evaluate step checks, on the holdout, that the model as served answers as the
    # model it evaluated (serving_parity).
    ("steps.evaluate", "serving.scoring"),
}
LONG_MODULES = {"config", "azure.rollout"}  # one concern each; may exceed MAX_LINES
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def imported(module: str, path: Path, known: set[str]) -> Iterator[str]:
    """The package's modules that `module` imports, by name relative to the package."""
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1] + (node.module or "").split(".")
            else:
                base = (node.module or "").split(".")
                if base[0] != PACKAGE:
                    continue
                base = base[1:]
            base_name = ".".join(part for part in base if part)
            for alias in node.names:
                candidate = f"{base_name}.{alias.name}" if base_name else alias.name
                yield candidate if candidate in known else base_name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == PACKAGE:
                    yield ".".join(parts[1:])


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {
        module: {target for target in imported(module, path, known) if target != module}
        for module, path in found.items()
    }


def layer(module: str) -> int:
    top = module.split(".")[0]
    return LAYERS.index(top) + 1 if top in LAYERS else 0


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_graph_is_read_from_every_module() -> None:
    graph = import_graph()
    assert {"cli.main", "steps.deploy", "families", "azure.deploy", "pipeline"} <= set(graph)
    assert "steps.deploy" in graph["pipeline"]
    assert "families" in graph["train"]


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_one() -> None:
    """A check that cannot fail proves nothing: a two-module loop is found."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_nothing_below_the_cli_imports_it() -> None:
    offenders = [
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        if target.split(".")[0] == "cli" and layer(module) < layer("cli")
    ]
    assert offenders == []


def test_imports_point_down_the_layers() -> None:
    upward = {
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        if layer(target) > layer(module)
    }
    assert upward == REVIEWED_UPWARD
    assert len(upward) <= 2


@pytest.mark.parametrize("module", sorted(set(modules()) - LONG_MODULES))
def test_modules_stay_short(module: str) -> None:
    lines = len(modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines; split it by responsibility"
