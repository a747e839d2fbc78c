"""Which built-in roles each identity gets, in one table shared with the platform bootstrap.

The bootstrap (the template's infra/) imports this module: the deployment identity's
role-assignment condition lists exactly `DEPLOYER_ASSIGNABLE`, and the workspace identity gets
`WORKSPACE_ROLES` from the bootstrap (before the workspace exists) because the deployment
identity may not grant `Contributor` or `Key Vault Administrator`. Standard library only.
"""

from __future__ import annotations

# Built-in role definition ids (the same in every tenant).
ROLE_IDS = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage File Data Privileged Contributor": "69566ab7-960f-475b-8e7c-b3118f30c6bd",
    "Storage Queue Data Message Sender": "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
    "Storage Queue Data Message Processor": "8a0f0c08-91a1-4084-bc3d-661d67233fed",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}

# (assignment id, role, target attribute of WorkspaceDependencies) for the clusters' identity.
COMPUTE_ROLES = (
    ("acr-pull", "AcrPull", "container_registry"),
    ("blob-data", "Storage Blob Data Contributor", "storage_account"),
    ("secrets", "Key Vault Secrets User", "key_vault"),
)
# The clusters' identity consumes the workspace events (retraining on drift, tests on register).
QUEUE_CONSUMER_ROLE = "Storage Queue Data Message Processor"
# The Event Grid system topic delivers events to the queue with its own identity.
QUEUE_SENDER_ROLE = "Storage Queue Data Message Sender"
# Application Insights has local auth off: whoever sends telemetry (the online deployments,
# running as the clusters' identity) must hold this role on it, or the telemetry is dropped.
TELEMETRY_PUBLISHER_ROLE = "Monitoring Metrics Publisher"
# The deployment identity's data-plane role on its own environment's resource group, granted
# by the bootstrap: identity-based datastores upload with the caller's own token.
DEPLOYER_DATA_ROLE = "Storage Blob Data Contributor"

# Every role the project stacks assign while deploying with the CI identity: the bootstrap's
# ABAC condition allows exactly these, only to service principals, never to the CI identity.
DEPLOYER_ASSIGNABLE = tuple(
    sorted(
        {role for _, role, _ in COMPUTE_ROLES}
        | {QUEUE_CONSUMER_ROLE, QUEUE_SENDER_ROLE, TELEMETRY_PUBLISHER_ROLE}
    )
)

# What Azure ML needs for a workspace with a user-assigned identity, on the environment's
# resource group (its storage, key vault, registry and App Insights do not exist yet when the
# bootstrap runs). Contributor covers the control plane of all four; the data roles cover
# identity-based default datastores and the RBAC key vault.
WORKSPACE_ROLES = (
    "Contributor",
    "Key Vault Administrator",
    "Storage Blob Data Contributor",
    "Storage File Data Privileged Contributor",
)
