"""Modules imported on first use, so light commands never pay for heavy libraries.

`<package> --help` must not import MLflow, pandas or the Azure SDK (seconds each). A command
module names each heavy module once, at the top, as `LazyModule("...")`, and uses it like the
module itself; the import happens on the first attribute access. `tests/test_startup.py` checks
that light commands stay light, and `benchmarks/startup.py` measures them.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module `name`; imports it when an attribute is first read."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._module(), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
