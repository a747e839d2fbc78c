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

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from . import address_plan, regions

SETTINGS_FILE = Path(__file__).resolve().parents[1] / "settings.json"

# The same limits as the template's pre-gen hook: names built from them always fit Azure's rules.
PREFIX_PATTERN = r"^[a-z][a-z0-9]{1,7}$"
ENVIRONMENT_PATTERN = r"^[a-z][a-z0-9]{0,6}$"
SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$"

# The variables a baked project's CI gets from the platform bootstrap (infra/ of the template).
STATE_VARIABLES = ("TF_STATE_RESOURCE_GROUP", "TF_STATE_STORAGE_ACCOUNT", "TF_STATE_CONTAINER")
# ...and, when the bootstrap provides a hub network, where private environments join it.
HUB_VARIABLES = ("HUB_VNET_ID", "HUB_DNS_ZONE_RESOURCE_GROUP_ID")
ARM_GROUP_PATTERN = r"^/subscriptions/[^/]+/resourceGroups/[^/]+$"
ARM_VNET_PATTERN = (
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/"
    r"virtualNetworks/[^/]+$"
)


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
    """One environment's VNet and subnets, from address_plan.py (distinct per environment)."""

    vnet_address_space: str
    training_subnet: str
    private_endpoint_subnet: str


RunStatus = Literal[
    "NotStarted",
    "Queued",
    "Preparing",
    "Provisioning",
    "Starting",
    "Running",
    "Finalizing",
    "CancelRequested",
    "Completed",
    "Failed",
    "Canceled",
]


class EventsConfig(_Frozen):
    """Filters of the workspace's Event Grid subscriptions (Azure allows 25 values per filter).

    An empty list means no filter: every event of that type reaches the queue.
    """

    model_names: tuple[str, ...] = Field(default=(), max_length=25)
    experiment_names: tuple[str, ...] = Field(default=(), max_length=25)
    run_statuses: tuple[RunStatus, ...] = Field(
        default=("Completed", "Failed", "Canceled"), max_length=25
    )
    # How long an unread event waits in the queue (Azure's maximum is 7 days).
    queue_message_ttl_seconds: int = Field(default=604800, ge=60, le=604800)


EMAIL_PATTERN = r"^[^@\s\"',;<>]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"


class BudgetConfig(_Frozen):
    """A monthly consumption budget on the environment's resource group: alerts, not a cap."""

    monthly_amount: int = Field(ge=1, le=1_000_000)
    contact_emails: tuple[str, ...] = Field(min_length=1, max_length=50)
    actual_thresholds: tuple[int, ...] = Field(default=(50, 80, 100), min_length=1)
    forecast_thresholds: tuple[int, ...] = (100,)

    @field_validator("contact_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [email for email in value if not re.match(EMAIL_PATTERN, email)]
        if bad:
            raise ValueError(f"budget contact e-mail addresses {bad} are not valid addresses")
        return value

    @model_validator(mode="after")
    def _thresholds(self) -> BudgetConfig:
        thresholds = [*self.actual_thresholds, *self.forecast_thresholds]
        if len(thresholds) > 5 or not all(1 <= t <= 1000 for t in thresholds):
            raise ValueError("a budget takes at most 5 thresholds, each 1-1000 percent")
        return self


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


class Hub(_Frozen):
    """The platform's hub network (bootstrap `hub`): a private environment peers its VNet with
    it and registers its private endpoints in the hub's shared privatelink DNS zones, so one
    runner in the hub reaches (and resolves) every environment, and exists before any of them.
    """

    vnet_id: str = Field(pattern=ARM_VNET_PATTERN)
    dns_zone_resource_group_id: str = Field(pattern=ARM_GROUP_PATTERN)

    @property
    def vnet_resource_group(self) -> str:
        return self.vnet_id.split("/")[4]

    @property
    def vnet_name(self) -> str:
        return self.vnet_id.rsplit("/", 1)[1]

    @property
    def dns_zone_resource_group(self) -> str:
        return self.dns_zone_resource_group_id.rsplit("/", 1)[1]

    def dns_zone_id(self, zone_name: str) -> str:
        return (
            f"{self.dns_zone_resource_group_id}/providers/Microsoft.Network/privateDnsZones/"
            f"{zone_name}"
        )

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Hub | None:
        """Read the HUB_* variables (bootstrap outputs); None when none of them is set."""
        values = {name: env.get(name, "").strip() for name in HUB_VARIABLES}
        missing = [name for name, value in values.items() if not value]
        if len(missing) == len(HUB_VARIABLES):
            return None
        if missing:
            raise ValueError(
                f"A hub needs all of {', '.join(HUB_VARIABLES)}; missing: {', '.join(missing)}"
            )
        return cls(
            vnet_id=values["HUB_VNET_ID"],
            dns_zone_resource_group_id=values["HUB_DNS_ZONE_RESOURCE_GROUP_ID"],
        )


def _known_region(location: str) -> str:
    if location not in regions.REGIONS:
        raise ValueError(f"location {location!r} is not in the region table (regions.py)")
    return location


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
    network: NetworkConfig
    # "auto" or a replication type the region supports (regions.py decides).
    storage_redundancy: str = "auto"
    # Production keeps soft delete and purge protection; other environments are re-creatable.
    production: bool = False
    events: EventsConfig = EventsConfig()
    budget: BudgetConfig
    # Created by the platform bootstrap so the CI identity can be scoped to it. A sandbox without
    # the bootstrap sets this to True and the stack creates the group (and the workspace's
    # identity, which the bootstrap otherwise provides with its roles) itself.
    create_resource_group: bool = False
    state: StateBackend | None = None
    # Private mode with a hub: shared DNS zones and peering instead of zones of its own.
    hub: Hub | None = None

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        return _known_region(value)

    @model_validator(mode="after")
    def _region_supports_redundancy(self) -> EnvironmentConfig:
        regions.storage_redundancy(self.location, self.storage_redundancy)
        return self

    @property
    def private(self) -> bool:
        return self.network_isolation == "private"

    @property
    def storage_replication(self) -> str:
        """The storage account's replication type in this region (GZRS, ZRS, GRS or LRS)."""
        return regions.storage_redundancy(self.location, self.storage_redundancy)

    @property
    def zone_redundant(self) -> bool:
        """Zone-redundant registry only where the region has availability zones."""
        return regions.capabilities(self.location).availability_zones


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
    # One range split into a /20 per environment, or one range per environment (address_plan).
    address_space: str = "10.100.0.0/16"
    storage_redundancy: str = "auto"
    # Default: the last environment in promotion order.
    production_environments: tuple[str, ...] | None = None
    events: EventsConfig = EventsConfig()
    budget: BudgetConfig
    create_resource_group: bool = False

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        return _known_region(value)

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

    @model_validator(mode="after")
    def _plan_and_region(self) -> ProjectSettings:
        try:
            plans = address_plan.plan(self.address_space, self.environments)
        except address_plan.AddressPlanError as error:
            raise ValueError(f"address_space: {error}") from None
        if address_plan.overlapping(plans):
            raise ValueError(f"address_space: overlapping environments {plans}")
        try:
            regions.storage_redundancy(self.location, self.storage_redundancy)
        except ValueError as error:
            raise ValueError(f"storage_redundancy: {error}") from None
        unknown = set(self.production_environments or ()) - set(self.environments)
        if unknown:
            raise ValueError(f"production_environments {sorted(unknown)} are not environments")
        return self

    @property
    def production(self) -> tuple[str, ...]:
        return self.production_environments or self.environments[-1:]

    def network_plan(self) -> dict[str, NetworkConfig]:
        plans = address_plan.plan(self.address_space, self.environments)
        return {env: NetworkConfig(**vars(plan)) for env, plan in plans.items()}

    def environment_configs(
        self, state: StateBackend | None = None, hub: Hub | None = None
    ) -> list[EnvironmentConfig]:
        shared = self.model_dump(
            exclude={"environments", "address_space", "production_environments"}
        )
        networks = self.network_plan()
        return [
            EnvironmentConfig(
                **shared,
                environment=env,
                network=networks[env],
                production=env in self.production,
                state=state,
                hub=hub,
            )
            for env in self.environments
        ]


def configs_from_environment(
    settings: ProjectSettings, env: Mapping[str, str]
) -> list[EnvironmentConfig]:
    """The stacks' configs: TF_STATE_* variables for the state backend, HUB_* for the hub.

    A shared (remote-state) private environment without the hub is refused: no runner could
    reach it on its first run (docs/deployment.md, "Private mode: the first run")."""
    state = StateBackend.from_environment(env)
    hub = Hub.from_environment(env)
    if state is not None and hub is None and settings.network_isolation == "private":
        raise ValueError(
            "network_isolation is private but HUB_VNET_ID and HUB_DNS_ZONE_RESOURCE_GROUP_ID "
            "are not set: set them from the platform bootstrap outputs (its `hub`)"
        )
    return settings.environment_configs(state=state, hub=hub)


def load_settings(path: Path = SETTINGS_FILE) -> ProjectSettings:
    return ProjectSettings.model_validate(json.loads(path.read_text(encoding="utf-8")))
