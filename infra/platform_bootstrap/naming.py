"""Names of the platform resources, and the contract with baked projects' names.

`project_resource_group_name` must equal the project template's `naming.resource_group_name`
(infra/mlops_infra/naming.py in the baked project); tests/test_bootstrap_infra.py checks it.
"""

from __future__ import annotations

import hashlib
import re


def _hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:6]


def platform_resource_group_name(prefix: str) -> str:
    return f"rg-{prefix}-mlops-platform"


def log_analytics_name(prefix: str) -> str:
    return f"log-{prefix}-mlops-platform"


def state_storage_account_name(prefix: str, location: str) -> str:
    """Globally unique: `st<prefix>tfstate<hash>`, at most 23 of the 24 allowed characters."""
    return f"st{prefix}tfstate{_hash(prefix, location)}"


def state_container_name(project_slug: str, environment: str) -> str:
    """One container per project and environment: an environment's identity can read and write
    only its own state (dev cannot rewrite prod's state to take it over).

    Container names forbid consecutive hyphens, which project slugs allow: runs are collapsed.
    """
    return "tfstate-" + re.sub("-+", "-", project_slug) + "-" + environment


def project_resource_group_name(project_slug: str, environment: str) -> str:
    return f"rg-{project_slug}-{environment}"


def deploy_identity_name(project_slug: str, environment: str) -> str:
    return f"id-{project_slug}-{environment}-deploy"


def azure_devops_service_connection(project_slug: str, environment: str) -> str:
    """The name the baked Azure DevOps pipelines use for the environment's connection."""
    return f"azure-{project_slug}-{environment}"


def deployer_role_name(prefix: str) -> str:
    """Custom role names are unique per tenant: the platform prefix keeps them apart."""
    return f"MLOps environment deployer ({prefix})"


def ci_output_name(project_slug: str, environment: str) -> str:
    """Terraform output names must be identifiers."""
    return "ci_" + project_slug.replace("-", "_") + "_" + environment


def hub_resource_group_name(prefix: str) -> str:
    return f"rg-{prefix}-mlops-hub"


def hub_network_name(prefix: str) -> str:
    return f"vnet-{prefix}-mlops-hub"


def hub_role_name(prefix: str) -> str:
    """The custom role that lets a deployment identity join its environment to the hub."""
    return f"MLOps hub network joiner ({prefix})"
