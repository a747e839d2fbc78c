"""Typed bootstrap config (bootstrap.json): the state location and the projects to onboard."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

CONFIG_FILE = Path(__file__).resolve().parents[1] / "bootstrap.json"

# Same limits as the project template's pre-gen hook.
SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$"
ENVIRONMENT_PATTERN = r"^[a-z][a-z0-9]{0,6}$"
GUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# The subject a workload identity federation service connection presents with the Microsoft
# Entra issuer: `/eid1/c/pub/t/<tenant, encoded>/a/<Azure DevOps app, encoded>/sc/<organization
# id>/<service connection id>`. Azure DevOps generates it when the connection is created and
# shows it on the connection ("Subject identifier"); it cannot be predicted beforehand
# (learn.microsoft.com/azure/devops/pipelines/release/convert-service-connections, read
# 2026-12; johnlokerse/azure-devops-bicep-local-deploy#18). Hence the two-phase set-up in
# infra/README.md.
ENTRA_SUBJECT_PATTERN = (
    r"^/eid1/c/pub/t/[A-Za-z0-9_-]+/a/[A-Za-z0-9_-]+/sc/(?P<org>" + _GUID + r")/" + _GUID + r"$"
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GitHub(_Frozen):
    """GitHub Actions deploy jobs: each environment's identity trusts only jobs that run in the
    GitHub environment of the same name. Pull requests get no deployment identity."""

    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class AzureDevOps(_Frozen):
    """Azure DevOps: one workload identity federation service connection per environment,
    named `azure-<project_slug>-<env>` (the name the baked pipelines use)."""

    organization: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")
    organization_id: str = Field(pattern=GUID_PATTERN)
    project: str = Field(min_length=1, pattern=r"^[^/]+$")
    # Phase 2 of the set-up (infra/README.md): environment -> the "Subject identifier" Azure
    # DevOps shows on that environment's service connection once it exists. An environment
    # without one gets no Azure DevOps federated credential yet (output
    # `azure_devops_federation_pending` names it).
    service_connection_subjects: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _subjects(self) -> AzureDevOps:
        for env, subject in self.service_connection_subjects.items():
            found = re.match(ENTRA_SUBJECT_PATTERN, subject)
            if found is None:
                raise ValueError(
                    f"service_connection_subjects[{env!r}] must be the Microsoft Entra subject "
                    "Azure DevOps shows on the connection (/eid1/c/pub/t/.../sc/<org-id>/<id>)"
                    f", got {subject!r}"
                )
            if found.group("org") != self.organization_id:
                raise ValueError(
                    f"service_connection_subjects[{env!r}] belongs to organization "
                    f"{found.group('org')}, not organization_id {self.organization_id}"
                )
        return self


class Project(_Frozen):
    project_slug: str = Field(pattern=SLUG_PATTERN)
    environments: tuple[str, ...] = Field(min_length=1, max_length=5)
    github: GitHub | None = None
    azure_devops: AzureDevOps | None = None

    @model_validator(mode="after")
    def _check(self) -> Project:
        bad = [env for env in self.environments if not re.match(ENVIRONMENT_PATTERN, env)]
        if bad or len(set(self.environments)) != len(self.environments):
            raise ValueError(f"{self.project_slug}: invalid or duplicate environments {bad}")
        if self.github is None and self.azure_devops is None:
            raise ValueError(f"{self.project_slug}: configure github, azure_devops or both")
        if self.azure_devops is not None:
            unknown = set(self.azure_devops.service_connection_subjects) - set(self.environments)
            if unknown:
                raise ValueError(
                    f"{self.project_slug}: service_connection_subjects for unknown environments "
                    f"{sorted(unknown)}"
                )
        return self


class HubNetwork(_Frozen):
    """The platform's hub (private projects): a VNet whose `runners` subnet holds the CI
    runners of every private environment (self-hosted VMs, GitHub-hosted runners with Azure
    private networking, or a Managed DevOps Pool), and the shared privatelink DNS zones. Each
    private environment peers with it and registers its endpoints in these zones, so one
    runner resolves and reaches every environment, and it exists before any of them."""

    # One private range that overlaps no project's address_space (the projects' default is
    # 10.100.0.0/16); the runners subnet is all of it.
    address_space: str = "10.99.0.0/24"

    @model_validator(mode="after")
    def _range(self) -> HubNetwork:
        network = ipaddress.ip_network(self.address_space, strict=True)
        if not network.is_private or network.version != 4 or network.prefixlen > 27:
            raise ValueError(
                f"hub address_space {self.address_space}: a private IPv4 /27 or larger"
            )
        return self


class BootstrapConfig(_Frozen):
    prefix: str = Field(pattern=r"^[a-z][a-z0-9]{1,7}$")
    location: str = Field(pattern=r"^[a-z0-9]+$")
    # Hosted CI runners reach state over the internet (Azure AD only, no keys). Set false when
    # every pipeline runs on self-hosted agents inside a network with a private endpoint.
    state_public_network_access: bool = True
    # The hub private projects need for their first run (docs: private first run); null for a
    # platform whose projects are all public sandboxes, or that brings its own hub.
    hub: HubNetwork | None = None
    projects: tuple[Project, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_projects(self) -> BootstrapConfig:
        from mlops_infra.regions import REGIONS

        from .naming import state_container_name

        if self.location not in REGIONS:
            raise ValueError(f"location {self.location!r} is not in the region table")
        containers = [
            state_container_name(p.project_slug, env)
            for p in self.projects
            for env in p.environments
        ]
        if len(set(containers)) != len(containers):
            raise ValueError(f"project slugs must give distinct state containers: {containers}")
        return self


def load_config(path: Path = CONFIG_FILE) -> BootstrapConfig:
    return BootstrapConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
