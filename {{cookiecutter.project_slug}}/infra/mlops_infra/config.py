"""Typed infrastructure settings: one `EnvironmentConfig` per stack.

`settings.json` holds the cookiecutter answers as plain strings; everything is validated and
converted here, so the constructs never see a raw answer (e.g. `gpu_max_nodes` arrives as "1").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SETTINGS_FILE = Path(__file__).resolve().parents[1] / "settings.json"

# The same limits as the template's pre-gen hook: names built from them always fit Azure's rules.
PREFIX_PATTERN = r"^[a-z][a-z0-9]{1,7}$"
ENVIRONMENT_PATTERN = r"^[a-z][a-z0-9]{0,6}$"
SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$"

# The variables a baked project's CI gets from the platform bootstrap (infra/ of the template).
STATE_VARIABLES = ("TF_STATE_RESOURCE_GROUP", "TF_STATE_STORAGE_ACCOUNT", "TF_STATE_CONTAINER")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClusterConfig(_Frozen):
    """An Azure ML compute cluster that scales to zero: you pay only while jobs run."""

    vm_size: str = Field(pattern=r"^Standard_[A-Za-z0-9_]+$")
    max_nodes: int = Field(ge=1, le=100)
    idle_seconds_before_scale_down: int = Field(default=900, ge=60, le=86400)
    vm_priority: Literal["Dedicated", "LowPriority"] = "Dedicated"

    @property
    def scale_down_after(self) -> str:
        """ISO 8601 duration, the format the azurerm provider expects."""
        return f"PT{self.idle_seconds_before_scale_down}S"


class NetworkConfig(_Frozen):
    """Address plan. One VNet per environment: stacks never share network state."""

    vnet_address_space: str = "10.0.0.0/16"
    training_subnet: str = "10.0.0.0/22"
    private_endpoint_subnet: str = "10.0.4.0/24"


class StateBackend(_Frozen):
    """Remote Terraform state in the bootstrap's storage container, reached with Azure AD only."""

    resource_group_name: str
    storage_account_name: str
    container_name: str

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> StateBackend | None:
        """Read the TF_STATE_* variables; None (local sandbox state) when none of them is set."""
        values = {name: env.get(name, "").strip() for name in STATE_VARIABLES}
        missing = [name for name, value in values.items() if not value]
        if len(missing) == len(STATE_VARIABLES):
            return None
        if missing:
            raise ValueError(
                f"Remote state needs all of {', '.join(STATE_VARIABLES)}; missing: "
                f"{', '.join(missing)}. Set them from the bootstrap outputs, or unset all of them "
                "to use local state for a sandbox."
            )
        return cls(
            resource_group_name=values["TF_STATE_RESOURCE_GROUP"],
            storage_account_name=values["TF_STATE_STORAGE_ACCOUNT"],
            container_name=values["TF_STATE_CONTAINER"],
        )


class EnvironmentConfig(_Frozen):
    """Everything one environment's stack needs, and nothing it could get wrong silently."""

    project_slug: str = Field(pattern=SLUG_PATTERN)
    resource_prefix: str = Field(pattern=PREFIX_PATTERN)
    environment: str = Field(pattern=ENVIRONMENT_PATTERN)
    location: str = Field(pattern=r"^[a-z0-9]+$")
    network_isolation: Literal["private", "public"]
    high_business_impact: bool = False
    gpu_cluster: ClusterConfig
    cpu_cluster: ClusterConfig
    network: NetworkConfig = NetworkConfig()
    # Created by the platform bootstrap so the CI identity can be scoped to it. A sandbox without
    # the bootstrap sets this to True and the stack creates the group itself.
    create_resource_group: bool = False
    state: StateBackend | None = None

    @property
    def private(self) -> bool:
        return self.network_isolation == "private"


class ProjectSettings(_Frozen):
    """The contents of settings.json: the project's answers, shared by every environment."""

    project_slug: str = Field(pattern=SLUG_PATTERN)
    resource_prefix: str = Field(pattern=PREFIX_PATTERN)
    location: str = Field(pattern=r"^[a-z0-9]+$")
    environments: tuple[str, ...] = Field(min_length=1, max_length=5)
    network_isolation: Literal["private", "public"]
    high_business_impact: bool = False
    gpu_cluster: ClusterConfig
    cpu_cluster: ClusterConfig
    network: NetworkConfig = NetworkConfig()
    create_resource_group: bool = False

    @field_validator("environments", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("environments")
    @classmethod
    def _valid_environments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [env for env in value if not re.match(ENVIRONMENT_PATTERN, env)]
        if bad:
            raise ValueError(f"environment names {bad} must match {ENVIRONMENT_PATTERN}")
        if len(set(value)) != len(value):
            raise ValueError(f"environment names must be unique, got {list(value)}")
        return value

    def environment_configs(self, state: StateBackend | None = None) -> list[EnvironmentConfig]:
        shared = self.model_dump(exclude={"environments"})
        return [
            EnvironmentConfig(**shared, environment=env, state=state) for env in self.environments
        ]


def load_settings(path: Path = SETTINGS_FILE) -> ProjectSettings:
    return ProjectSettings.model_validate(json.loads(path.read_text(encoding="utf-8")))
