"""One explicit credential per place: CI refreshes its federated token, jobs use the cluster's
identity by client id, and nothing falls back to a machine's managed identity."""

from __future__ import annotations

import io
import json

import pytest
from azure import identity

from {{ cookiecutter.package_name }}.azure import credentials
from {{ cookiecutter.package_name }}.azure.credentials import (
    CredentialConfigError,
    azure_credential,
    credential_kind,
    github_assertion,
)

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "AZURE_TENANT_ID": "tenant",
    "AZURE_CLIENT_ID": "client",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.actions.example/id?api-version=2.0",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-bearer",
}
PIPELINES = {
    "TF_BUILD": "True",
    "AZURESUBSCRIPTION_TENANT_ID": "tenant",
    "AZURESUBSCRIPTION_CLIENT_ID": "client",
    "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": "connection",
    "SYSTEM_ACCESSTOKEN": "system-token",
}


@pytest.mark.parametrize(
    ("env", "kind", "credential_type"),
    [
        (GITHUB, "github", identity.ClientAssertionCredential),
        (PIPELINES, "azure-pipelines", identity.AzurePipelinesCredential),
        ({"DEFAULT_IDENTITY_CLIENT_ID": "cluster"}, "job", identity.ManagedIdentityCredential),
        ({}, "cli", identity.AzureCliCredential),
    ],
    ids=["github", "azure-pipelines", "job", "laptop"],
)
def test_each_place_gets_exactly_one_credential(env, kind, credential_type) -> None:
    assert credential_kind(env) == kind
    credential = azure_credential(env)
    assert type(credential) is credential_type
    assert not isinstance(credential, identity.ChainedTokenCredential)


def test_a_self_hosted_vm_runner_never_uses_the_vm_identity() -> None:
    """An Azure VM runner has IMDS (and maybe AZURE_CLIENT_ID for its identity): CI still
    signs in as the environment's federated deployment identity."""
    vm_runner = {**GITHUB, "IDENTITY_ENDPOINT": "http://169.254.169.254", "MSI_ENDPOINT": "x"}
    assert type(azure_credential(vm_runner)) is identity.ClientAssertionCredential


def test_a_job_uses_the_cluster_identity_by_client_id(monkeypatch) -> None:
    seen = {}

    def managed(**kwargs):
        seen.update(kwargs)
        return "managed"

    monkeypatch.setattr(identity, "ManagedIdentityCredential", managed)
    assert azure_credential({"DEFAULT_IDENTITY_CLIENT_ID": "cluster-client"}) == "managed"
    assert seen == {"client_id": "cluster-client"}


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({**GITHUB, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}, "ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ({**GITHUB, "AZURE_CLIENT_ID": ""}, "AZURE_CLIENT_ID"),
        ({**PIPELINES, "SYSTEM_ACCESSTOKEN": ""}, "SYSTEM_ACCESSTOKEN"),
        ({"AZURE_CREDENTIAL": "job"}, "DEFAULT_IDENTITY_CLIENT_ID"),
    ],
    ids=["github-without-id-token-permission", "github-without-client", "ado-token", "job"],
)
def test_missing_variables_fail_instead_of_falling_back(env, missing) -> None:
    with pytest.raises(CredentialConfigError, match=missing):
        azure_credential(env)


def test_the_override_is_checked() -> None:
    assert credential_kind({**GITHUB, "AZURE_CREDENTIAL": "cli"}) == "cli"
    with pytest.raises(CredentialConfigError, match="not one of"):
        credential_kind({"AZURE_CREDENTIAL": "managed-identity"})


def test_github_assertion_requests_a_fresh_token_for_entra_on_every_call() -> None:
    requests = []

    def opener(request, timeout):
        requests.append((request.full_url, request.get_header("Authorization"), timeout))
        return io.BytesIO(json.dumps({"value": f"jwt-{len(requests)}"}).encode())

    assertion = github_assertion(GITHUB, opener=opener)
    assert [assertion(), assertion()] == ["jwt-1", "jwt-2"]
    url = GITHUB["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=api%3A%2F%2FAzureADTokenExchange"
    assert requests == [(url, "Bearer runner-bearer", credentials.GITHUB_TOKEN_TIMEOUT_SECONDS)] * 2
