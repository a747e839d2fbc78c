"""Bake extreme but valid prefixes, slugs and environment names; every Azure name must be valid.

All cases are synthesized by ONE Python process (importing the azurerm bindings costs ~20 s and
~1 GB): it runs each baked project's own infra code in turn, then this test checks every
synthesized `name` against that project's naming rules table.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from template_tools import bake

# One synthesis for the whole module: one xdist worker runs it all.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("resource-names")]

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
PYTHON = TEMPLATE_DIR / ".venv" / "bin" / "python"

LONGEST_SLUG = "a-very-long-project-slug-for-names-x1234"  # 40 characters, the hook's maximum
CASES = {
    "shortest": {
        "project_name": "ab1",
        "resource_prefix": "a1",
        "environments": "d,abcdefg",
        "network_isolation": "private",
    },
    "longest": {
        "project_name": "long",
        "project_slug": LONGEST_SLUG,
        "resource_prefix": "abcdefgh",
        "environments": "abcdefg,d,q2w3e4r,prod,st",
        "network_isolation": "private",
    },
    "public-sandbox": {
        "project_name": "sandbox",
        "resource_prefix": "zz",
        "environments": "abcdefg,d",
        "network_isolation": "public",
    },
}
# Resources without a free-form name (or with one fixed by Azure, like privatelink zones).
NOT_NAMED_BY_US = {
    "azurerm_private_dns_zone",
    "azurerm_role_assignment",
    "azurerm_subnet_network_security_group_association",
    "azurerm_subnet_nat_gateway_association",
    "azurerm_nat_gateway_public_ip_association",
}
GLOBALLY_UNIQUE = (
    "azurerm_storage_account",
    "azurerm_key_vault",
    "azurerm_container_registry",
    "azurerm_machine_learning_workspace",
)

# Runs in the subprocess: each project's own infra package, one after another.
SYNTH_ALL = """
import sys
from pathlib import Path

for project in map(Path, sys.argv[1:]):
    for module in [m for m in sys.modules if m.split(".")[0] == "mlops_infra"]:
        del sys.modules[module]
    sys.path.insert(0, str(project / "infra"))
    from mlops_infra.app import build_app
    from mlops_infra.config import load_settings

    build_app(load_settings().environment_configs(), project / "infra" / "cdktf.out").synth()
    sys.path.pop(0)
"""


def _naming(project: Path) -> ModuleType:
    path = project / "infra" / "mlops_infra" / "naming.py"
    spec = importlib.util.spec_from_file_location(f"naming_{project.name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def baked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    projects = {
        case: bake(tmp_path_factory.mktemp(case), **answers) for case, answers in CASES.items()
    }
    result = subprocess.run(
        [str(PYTHON), "-c", SYNTH_ALL, *map(str, projects.values())],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return projects


def _stacks(project: Path) -> dict[str, dict]:
    stacks_dir = project / "infra" / "cdktf.out" / "stacks"
    return {p.parent.name: json.loads(p.read_text()) for p in stacks_dir.glob("*/cdk.tf.json")}


@pytest.mark.parametrize("case", CASES)
def test_every_environment_has_a_stack(baked: dict[str, Path], case: str) -> None:
    assert set(_stacks(baked[case])) == set(CASES[case]["environments"].split(","))


@pytest.mark.parametrize("case", CASES)
def test_every_resource_name_follows_azure_rules(baked: dict[str, Path], case: str) -> None:
    naming = _naming(baked[case])
    checked = 0
    for stack_name, stack in _stacks(baked[case]).items():
        named = {**stack["resource"], **stack.get("data", {})}
        for resource_type, resources in named.items():
            if resource_type in NOT_NAMED_BY_US or resource_type == "azurerm_client_config":
                continue
            assert resource_type in naming.RULES, f"{resource_type} has no naming rule"
            for body in resources.values():
                problems = naming.violations(resource_type, body["name"])
                assert not problems, (stack_name, resource_type, body["name"], problems)
                checked += 1
    # Public stacks name 17 resources, private ones 40: guards against checking nothing.
    assert checked >= 15 * len(_stacks(baked[case]))


def test_globally_unique_names_never_collide(baked: dict[str, Path]) -> None:
    seen: dict[str, str] = {}
    for case, project in baked.items():
        for stack_name, stack in _stacks(project).items():
            for resource_type in GLOBALLY_UNIQUE:
                for body in stack["resource"][resource_type].values():
                    where = f"{case}/{stack_name}"
                    assert body["name"] not in seen, (body["name"], where, seen.get(body["name"]))
                    seen[body["name"]] = where
    assert len(seen) == len(GLOBALLY_UNIQUE) * sum(len(_stacks(p)) for p in baked.values())


def test_longest_names_reach_the_limits_they_are_checked_against(baked: dict[str, Path]) -> None:
    """The extremes are real extremes: the key vault name uses all 24 characters."""
    (stack,) = [s for name, s in _stacks(baked["longest"]).items() if name == "abcdefg"]
    (vault,) = stack["resource"]["azurerm_key_vault"].values()
    assert len(vault["name"]) == 24
