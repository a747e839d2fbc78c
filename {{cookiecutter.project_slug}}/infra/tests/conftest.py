"""Synthesize every stack ONCE per test session and share it.

Importing the azurerm bindings costs ~20 s and ~1 GB, so one session fixture builds three apps in
one process: the project's environments as private stacks, the same as public stacks (so every
bake proves both isolation modes), and variants (remote state, sandbox resource group, a region
without availability zones and one without a pair).
Fast tests (config, naming, scan logic) never import cdktf.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .synthesis import INFRA_DIR, Synthesis, SynthesizedStack

sys.path.insert(0, str(INFRA_DIR))


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    from mlops_infra.app import build_app
    from mlops_infra.cdk import Testing
    from mlops_infra.config import Hub, StateBackend, load_settings

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
    hub = Hub(
        vnet_id=(
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-plat-mlops-hub"
            "/providers/Microsoft.Network/virtualNetworks/vnet-plat-mlops-hub"
        ),
        dns_zone_resource_group_id=(
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-plat-mlops-hub"
        ),
    )
    # Region variants follow the region table: westus has no zones, italynorth has no pair.
    synth(
        "variant",
        [
            base.model_copy(update={"environment": "remote", "state": state}),
            base.model_copy(update={"environment": "sandbox", "create_resource_group": True}),
            base.model_copy(update={"environment": "nozones", "location": "westus"}),
            base.model_copy(update={"environment": "nopair", "location": "italynorth"}),
            # A private environment joining the platform's hub (bootstrap `hub`).
            base.model_copy(
                update={"environment": "hub", "network_isolation": "private", "hub": hub}
            ),
        ],
    )
    return Synthesis(stacks=stacks, outdirs=outdirs, testing=Testing, settings=settings)
