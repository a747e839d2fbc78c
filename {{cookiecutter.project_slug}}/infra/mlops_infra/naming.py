"""Every Azure resource name, built in one place and checked against Azure's naming rules.

Globally unique names (storage, key vault, registry, and the workspace, whose name is part of
its endpoint DNS) carry a short deterministic hash of slug/prefix/environment/location, so two
teams that pick the same prefix do not collide, and re-running synth never renames anything.
The rules table is also what the name tests check every synthesized name against.
Sources: https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
and the Azure ML limits (workspace 3-33, compute 2-16).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Private DNS zone per private-link target (keys are used in resource ids and names).
PRIVATE_DNS_ZONES = {
    "workspace-api": "privatelink.api.azureml.ms",
    "workspace-notebooks": "privatelink.notebooks.azure.net",
    "blob": "privatelink.blob.core.windows.net",
    "file": "privatelink.file.core.windows.net",
    "queue": "privatelink.queue.core.windows.net",
    "vault": "privatelink.vaultcore.azure.net",
    "registry": "privatelink.azurecr.io",
}


@dataclass(frozen=True)
class NameRule:
    min_length: int
    max_length: int
    pattern: str
    description: str

    def violations(self, name: str) -> list[str]:
        problems = []
        if not self.min_length <= len(name) <= self.max_length:
            problems.append(f"length {len(name)} not in {self.min_length}-{self.max_length}")
        if not re.fullmatch(self.pattern, name):
            problems.append(f"does not match {self.description}")
        return problems


_ALNUM_HYPHEN_UNDERSCORE_PERIOD = r"[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9_]|[A-Za-z0-9]"

# Terraform resource type -> Azure's rule for its `name` argument.
RULES: dict[str, NameRule] = {
    "azurerm_resource_group": NameRule(
        1, 90, r"[-\w._()]*[-\w_()]", "letters, digits, -_.() and not ending with a period"
    ),
    "azurerm_virtual_network": NameRule(
        2, 64, _ALNUM_HYPHEN_UNDERSCORE_PERIOD, "alphanumerics, -_. ; starts alnum, ends alnum/_"
    ),
    "azurerm_subnet": NameRule(
        1, 80, _ALNUM_HYPHEN_UNDERSCORE_PERIOD, "alphanumerics, -_. ; starts alnum, ends alnum/_"
    ),
    "azurerm_network_security_group": NameRule(
        1, 80, _ALNUM_HYPHEN_UNDERSCORE_PERIOD, "alphanumerics, -_. ; starts alnum, ends alnum/_"
    ),
    "azurerm_nat_gateway": NameRule(
        1, 80, _ALNUM_HYPHEN_UNDERSCORE_PERIOD, "alphanumerics, -_. ; starts alnum, ends alnum/_"
    ),
    "azurerm_public_ip": NameRule(
        1, 80, _ALNUM_HYPHEN_UNDERSCORE_PERIOD, "alphanumerics, -_. ; starts alnum, ends alnum/_"
    ),
    "azurerm_private_endpoint": NameRule(
        2, 64, _ALNUM_HYPHEN_UNDERSCORE_PERIOD, "alphanumerics, -_. ; starts alnum, ends alnum/_"
    ),
    "azurerm_private_dns_zone_virtual_network_link": NameRule(
        1, 80, _ALNUM_HYPHEN_UNDERSCORE_PERIOD, "alphanumerics, -_. ; starts alnum, ends alnum/_"
    ),
    "azurerm_virtual_network_peering": NameRule(
        1, 80, _ALNUM_HYPHEN_UNDERSCORE_PERIOD, "alphanumerics, -_. ; starts alnum, ends alnum/_"
    ),
    "azurerm_storage_account": NameRule(3, 24, r"[a-z0-9]+", "lowercase letters and digits"),
    "azurerm_storage_container": NameRule(
        3, 63, r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*", "lowercase, digits, single hyphens"
    ),
    "azurerm_key_vault": NameRule(
        3,
        24,
        r"[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9]))*",
        "alphanumerics and single hyphens; starts with a letter, ends alnum",
    ),
    "azurerm_container_registry": NameRule(5, 50, r"[A-Za-z0-9]+", "alphanumerics"),
    "azurerm_log_analytics_workspace": NameRule(
        4, 63, r"[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]", "alphanumerics and hyphens, alnum ends"
    ),
    "azurerm_application_insights": NameRule(
        1, 260, r"[^%&\\?/]*[^%&\\?/ .]", "no %&\\?/ and not ending with a space or period"
    ),
    "azurerm_machine_learning_workspace": NameRule(
        3, 33, r"[A-Za-z0-9][A-Za-z0-9_-]*", "alphanumerics, -_ ; starts alnum"
    ),
    "azurerm_machine_learning_compute_cluster": NameRule(
        2, 16, r"[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]", "letters, digits, hyphens; starts letter"
    ),
    "azurerm_user_assigned_identity": NameRule(
        3, 128, r"[A-Za-z0-9][A-Za-z0-9_-]*", "alphanumerics, -_ ; starts alnum"
    ),
    "azurerm_federated_identity_credential": NameRule(
        3, 120, r"[A-Za-z0-9][A-Za-z0-9_-]*", "alphanumerics, -_ ; starts alnum"
    ),
    "azurerm_monitor_diagnostic_setting": NameRule(1, 260, r"[^*<>%&:\\?/+]+", "no *<>%&:\\?/+"),
    "azurerm_storage_queue": NameRule(
        3, 63, r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*", "lowercase, digits, single hyphens"
    ),
    "azurerm_eventgrid_system_topic": NameRule(
        3, 128, r"[A-Za-z0-9-]+", "alphanumerics and hyphens"
    ),
    "azurerm_eventgrid_system_topic_event_subscription": NameRule(
        3, 64, r"[A-Za-z0-9-]+", "alphanumerics and hyphens"
    ),
    "azurerm_consumption_budget_resource_group": NameRule(
        1, 63, r"[A-Za-z0-9_-]+", "alphanumerics, hyphens and underscores"
    ),
    "azurerm_role_definition": NameRule(1, 128, r"[^/\\]+", "no slashes"),
}


def violations(resource_type: str, name: str) -> list[str]:
    """Problems with `name` for `resource_type`; KeyError for a type without a known rule."""
    return RULES[resource_type].violations(name)


def short_hash(*parts: str, length: int = 6) -> str:
    """Stable hex digest: the same inputs give the same names on every machine and run."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Names:
    """Names for one environment of one project."""

    project_slug: str
    prefix: str
    environment: str
    location: str

    @property
    def _base(self) -> str:
        return f"{self.prefix}-{self.environment}"

    @property
    def _unique(self) -> str:
        return short_hash(self.project_slug, self.prefix, self.environment, self.location)

    def _checked(self, resource_type: str, name: str) -> str:
        problems = violations(resource_type, name)
        if problems:
            raise ValueError(f"{resource_type} name {name!r}: {'; '.join(problems)}")
        return name

    @property
    def resource_group(self) -> str:
        # Shared contract with the platform bootstrap, which creates this group.
        return self._checked(
            "azurerm_resource_group", resource_group_name(self.project_slug, self.environment)
        )

    @property
    def virtual_network(self) -> str:
        return self._checked("azurerm_virtual_network", f"vnet-{self._base}")

    @property
    def training_subnet(self) -> str:
        return self._checked("azurerm_subnet", "snet-training")

    @property
    def private_endpoint_subnet(self) -> str:
        return self._checked("azurerm_subnet", "snet-private-endpoints")

    def network_security_group(self, subnet: str) -> str:
        return self._checked("azurerm_network_security_group", f"nsg-{self._base}-{subnet}")

    @property
    def nat_gateway(self) -> str:
        return self._checked("azurerm_nat_gateway", f"ng-{self._base}")

    @property
    def nat_public_ip(self) -> str:
        return self._checked("azurerm_public_ip", f"pip-{self._base}-nat")

    def private_endpoint(self, target: str) -> str:
        return self._checked("azurerm_private_endpoint", f"pe-{self._base}-{target}")

    def hub_peering(self, direction: str) -> str:
        """Unique per project and environment: every environment peers with the one hub."""
        return self._checked(
            "azurerm_virtual_network_peering", f"peer-{self._base}-{self._unique}-{direction}"
        )

    def hub_dns_zone_link(self, zone_key: str) -> str:
        """A link in the hub's shared zones: unique per project and environment there."""
        return self._checked(
            "azurerm_private_dns_zone_virtual_network_link",
            f"link-{self._base}-{self._unique}-{zone_key}",
        )

    def dns_zone_link(self, zone_key: str) -> str:
        return self._checked(
            "azurerm_private_dns_zone_virtual_network_link", f"link-{self._base}-{zone_key}"
        )

    @property
    def storage_account(self) -> str:
        return self._checked(
            "azurerm_storage_account", f"st{self.prefix}{self.environment}{self._unique}"
        )

    @property
    def key_vault(self) -> str:
        return self._checked(
            "azurerm_key_vault", f"kv-{self.prefix}{self.environment}{self._unique}"
        )

    @property
    def container_registry(self) -> str:
        return self._checked(
            "azurerm_container_registry", f"cr{self.prefix}{self.environment}{self._unique}"
        )

    @property
    def log_analytics_workspace(self) -> str:
        return self._checked("azurerm_log_analytics_workspace", f"log-{self._base}")

    @property
    def application_insights(self) -> str:
        return self._checked("azurerm_application_insights", f"appi-{self._base}")

    @property
    def workspace(self) -> str:
        return self._checked(
            "azurerm_machine_learning_workspace", f"mlw-{self._base}-{self._unique}"
        )

    @property
    def gpu_cluster(self) -> str:
        # Fixed, short names: pipeline definitions refer to them in every environment.
        return self._checked("azurerm_machine_learning_compute_cluster", "gpu-cluster")

    @property
    def cpu_cluster(self) -> str:
        return self._checked("azurerm_machine_learning_compute_cluster", "cpu-cluster")

    @property
    def compute_identity(self) -> str:
        return self._checked("azurerm_user_assigned_identity", f"id-{self._base}-compute")

    @property
    def workspace_identity(self) -> str:
        # Shared contract with the platform bootstrap, which creates it with its roles.
        return self._checked(
            "azurerm_user_assigned_identity",
            workspace_identity_name(self.project_slug, self.environment),
        )

    def diagnostic_setting(self, target: str) -> str:
        return self._checked("azurerm_monitor_diagnostic_setting", f"diag-{target}")

    @property
    def event_queue(self) -> str:
        return self._checked("azurerm_storage_queue", "workspace-events")

    @property
    def event_topic(self) -> str:
        return self._checked("azurerm_eventgrid_system_topic", f"evgt-{self._base}-workspace")

    def event_subscription(self, event: str) -> str:
        return self._checked("azurerm_eventgrid_system_topic_event_subscription", f"evgs-{event}")

    @property
    def budget(self) -> str:
        return self._checked("azurerm_consumption_budget_resource_group", f"budget-{self._base}")


def resource_group_name(project_slug: str, environment: str) -> str:
    """`rg-<slug>-<env>`: the bootstrap creates it, the project stack deploys into it."""
    return f"rg-{project_slug}-{environment}"


def workspace_identity_name(project_slug: str, environment: str) -> str:
    """The workspace's user-assigned identity: the bootstrap creates it in the environment's
    resource group with the roles Azure ML needs, the stack attaches it to the workspace."""
    return f"id-{project_slug}-{environment}-workspace"
