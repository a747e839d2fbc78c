"""Synthesize every stack ONCE per test session and share it.

Importing the azurerm bindings costs ~20 s and ~1 GB, so one session fixture builds three apps in
one process: the project's environments as private stacks, the same as public stacks (so every
bake proves both isolation modes), and two variants (remote state, sandbox resource group).
Fast tests (config, naming, scan logic) never import cdktf.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

INFRA_DIR = Path(__file__).resolve().parents[1]
PROJECT_DIR = INFRA_DIR.parent
sys.path.insert(0, str(INFRA_DIR))


def tf_ref(resource_type: str, logical_id: str, attribute: str = "id") -> str:
    """A Terraform interpolation as cdktf writes it (built without braces-in-f-strings, which
    the cookiecutter template engine would try to render)."""
    return "${" + f"{resource_type}.{logical_id}.{attribute}" + "}"


@dataclass(frozen=True)
class SynthesizedStack:
    config: Any  # mlops_infra.config.EnvironmentConfig
    text: str  # Testing.synth output, for the cdktf Testing helpers
    tf: dict[str, Any]  # the same, parsed

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.tf.get("resource", {}).get(resource_type, {})

    def only(self, resource_type: str) -> dict[str, Any]:
        (body,) = self.resources(resource_type).values()
        return body

    def ref(self, resource_type: str, attribute: str = "id") -> str:
        """The Terraform reference to the single resource of `resource_type`."""
        (logical_id,) = self.resources(resource_type)
        return tf_ref(resource_type, logical_id, attribute)


@dataclass(frozen=True)
class Synthesis:
    stacks: dict[str, SynthesizedStack]  # "<isolation>/<env>", "variant/<name>"
    outdirs: dict[str, Path]  # isolation -> folder holding stacks/<env>/cdk.tf.json
    testing: Any  # cdktf.Testing, handed out so test modules need not import cdktf
    settings: Any  # mlops_infra.config.ProjectSettings

    def by_isolation(self, isolation: str) -> list[SynthesizedStack]:
        return [s for key, s in self.stacks.items() if key.startswith(f"{isolation}/")]


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    from mlops_infra.app import build_app
    from mlops_infra.cdk import Testing
    from mlops_infra.config import StateBackend, load_settings

    settings = load_settings()
    root = tmp_path_factory.mktemp("cdktf")
    stacks: dict[str, SynthesizedStack] = {}
    outdirs: dict[str, Path] = {}

    def synth(label: str, configs: list) -> None:
        outdir = root / label
        app = build_app(configs, outdir)
        for config, stack in zip(configs, app.node.children, strict=True):
            text = Testing.synth(stack)
            stacks[f"{label}/{config.environment}"] = SynthesizedStack(
                config, text, json.loads(text)
            )
        app.synth()
        outdirs[label] = outdir

    for isolation in ("private", "public"):
        variant = settings.model_copy(update={"network_isolation": isolation})
        synth(isolation, variant.environment_configs())
    base = settings.environment_configs()[0]
    state = StateBackend(
        resource_group_name="rg-tfstate", storage_account_name="sttfstate", container_name="proj"
    )
    synth(
        "variant",
        [
            base.model_copy(update={"environment": "remote", "state": state}),
            base.model_copy(update={"environment": "sandbox", "create_resource_group": True}),
        ],
    )
    return Synthesis(stacks=stacks, outdirs=outdirs, testing=Testing, settings=settings)
