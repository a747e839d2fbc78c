"""One explicit Azure credential per place the package runs, never a silent fallback.

`DefaultAzureCredential` tries a machine's managed identity before the CLI login: on a
self-hosted runner that is an Azure VM, CI steps would then run as the VM's identity, not the
environment's deployment identity. So the place is decided first and exactly one credential
serves it:

- GitHub Actions (`GITHUB_ACTIONS=true`): `ClientAssertionCredential` that asks GitHub for a
  fresh OIDC token on every Entra exchange;
- Azure Pipelines (`TF_BUILD=True`): `AzurePipelinesCredential`, which refreshes through the
  pipeline's service connection;
- an Azure ML job (`DEFAULT_IDENTITY_CLIENT_ID` set): `ManagedIdentityCredential` of the
  cluster's user-assigned identity, by client id;
- anywhere else: `AzureCliCredential` (`az login`).

`AZURE_CREDENTIAL` (one of the kinds above: github, azure-pipelines, job, cli) overrides the
detection. A place whose variables are missing fails with the variable to set: it never falls
through to another credential.

Platform facts this relies on (checked 2026-12):
- GitHub's OIDC token lives about 5 minutes, and `azure/login` exchanges it once, so the Azure
  CLI cannot get tokens for a new scope after that (Azure/login#180, #372, #441). Asking for a
  new assertion per exchange is what keeps a long step logged in.
- `AzurePipelinesCredential` requests a new OIDC token from the pipeline for each exchange
  (azure-identity 1.27 docs); the `AzureCLI@2` task exports the service connection's ids.
- A compute cluster's user-assigned identity is exposed to its jobs as
  `DEFAULT_IDENTITY_CLIENT_ID`, which `DefaultAzureCredential` does not read by itself
  (learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-authentication).
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import PipelineError

OVERRIDE_ENV = "AZURE_CREDENTIAL"
KINDS = ("github", "azure-pipelines", "job", "cli")
FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
GITHUB_TOKEN_TIMEOUT_SECONDS = 30


class CredentialConfigError(PipelineError):
    """The place the package runs in lacks what its one credential needs."""


def credential_kind(env: Mapping[str, str] | None = None) -> str:
    """Which credential serves this process (see the module docstring)."""
    env = os.environ if env is None else env
    chosen = env.get(OVERRIDE_ENV, "").strip()
    if chosen:
        if chosen not in KINDS:
            raise CredentialConfigError(
                f"{OVERRIDE_ENV}={chosen!r} is not one of {', '.join(KINDS)}"
            )
        return chosen
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("TF_BUILD", "").lower() == "true":
        return "azure-pipelines"
    if env.get("DEFAULT_IDENTITY_CLIENT_ID"):
        return "job"
    return "cli"


def _require(env: Mapping[str, str], kind: str, *names: str) -> list[str]:
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise CredentialConfigError(
            f"The {kind} credential needs {', '.join(missing)} (docs/deployment.md, "
            "Credentials); it does not fall back to another identity"
        )
    return [env[name] for name in names]


def github_assertion(
    env: Mapping[str, str], opener: Callable[..., Any] = urllib.request.urlopen
) -> Callable[[], str]:
    """A function returning a fresh GitHub OIDC token for Entra, one request per call."""
    url, bearer = _require(
        env, "github", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
    )
    separator = "&" if "?" in url else "?"
    request_url = f"{url}{separator}audience={urllib.parse.quote(FEDERATION_AUDIENCE, safe='')}"

    def assertion() -> str:
        request = urllib.request.Request(request_url, headers={"Authorization": f"Bearer {bearer}"})
        with opener(request, timeout=GITHUB_TOKEN_TIMEOUT_SECONDS) as response:
            return json.loads(response.read())["value"]

    return assertion


def azure_credential(env: Mapping[str, str] | None = None) -> Any:
    """The one credential for this place (an azure-identity `TokenCredential`)."""
    env = os.environ if env is None else env
    kind = credential_kind(env)
    from azure import identity

    if kind == "github":
        tenant, client = _require(env, kind, "AZURE_TENANT_ID", "AZURE_CLIENT_ID")
        return identity.ClientAssertionCredential(tenant, client, github_assertion(env))
    if kind == "azure-pipelines":
        tenant, client, connection, token = _require(
            env,
            kind,
            "AZURESUBSCRIPTION_TENANT_ID",
            "AZURESUBSCRIPTION_CLIENT_ID",
            "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
            "SYSTEM_ACCESSTOKEN",
        )
        return identity.AzurePipelinesCredential(
            tenant_id=tenant,
            client_id=client,
            service_connection_id=connection,
            system_access_token=token,
        )
    if kind == "job":
        (client,) = _require(env, kind, "DEFAULT_IDENTITY_CLIENT_ID")
        return identity.ManagedIdentityCredential(client_id=client)
    return identity.AzureCliCredential()
