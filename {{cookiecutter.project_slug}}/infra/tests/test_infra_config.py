"""Typed settings: cookiecutter strings become validated values, state comes from TF_STATE_*."""

from __future__ import annotations

import json

import pytest
from mlops_infra.config import STATE_VARIABLES, ProjectSettings, StateBackend, load_settings
from pydantic import ValidationError


def _settings(**overrides: object) -> ProjectSettings:
    raw = json.loads(load_settings().model_dump_json())
    raw["environments"] = ",".join(raw["environments"])
    return ProjectSettings.model_validate({**raw, **overrides})


def test_settings_json_holds_the_answers_as_typed_values() -> None:
    settings = load_settings()
    assert settings.environments, "settings.json must list at least one environment"
    assert isinstance(settings.gpu_cluster.max_nodes, int)
    configs = settings.environment_configs()
    assert [c.environment for c in configs] == list(settings.environments)


def test_node_counts_arrive_as_strings_and_are_converted() -> None:
    settings = _settings(gpu_cluster={"vm_size": "Standard_NC6s_v3", "max_nodes": "4"})
    assert settings.gpu_cluster.max_nodes == 4


@pytest.mark.parametrize(
    "overrides",
    [
        {"resource_prefix": "9abc"},
        {"resource_prefix": "abcdefghi"},
        {"environments": "dev,Prod"},
        {"environments": "dev,dev"},
        {"environments": "a,b,c,d,e,f"},
        {"network_isolation": "hybrid"},
        {"cpu_cluster": {"vm_size": "Standard_D4s_v3", "max_nodes": "0"}},
    ],
    ids=str,
)
def test_invalid_settings_are_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _settings(**overrides)


def test_state_backend_is_local_without_variables() -> None:
    assert StateBackend.from_environment({}) is None


def test_state_backend_reads_all_three_variables() -> None:
    env = dict(zip(STATE_VARIABLES, ("rg-state", "ststate", "tfstate-proj"), strict=True))
    assert StateBackend.from_environment(env) == StateBackend(
        resource_group_name="rg-state",
        storage_account_name="ststate",
        container_name="tfstate-proj",
    )


def test_partial_state_variables_name_the_missing_ones() -> None:
    with pytest.raises(ValueError, match="TF_STATE_CONTAINER"):
        StateBackend.from_environment(
            {"TF_STATE_RESOURCE_GROUP": "rg", "TF_STATE_STORAGE_ACCOUNT": "st"}
        )
