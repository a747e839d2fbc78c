"""The doctor's read-only calls to Azure: the protocol the checks use, and the real source.

`AzureSource` uses azure-core (already a dependency of azure-identity) with the package's one
credential (credentials.py): ARM GETs, DNS, a TCP connect, a HEAD on the base images'
registry, and a GET on the workspace's MLflow route. It never writes.
"""

from __future__ import annotations

import socket
from typing import Any, Protocol

from .workspace import WorkspaceCoordinates

API = {
    "permissions": "2022-04-01",
    "usages": "2024-04-01",
    "vm_sizes": "2024-04-01",
    "workspace": "2024-04-01",
    "datastores": "2024-04-01",
    "budgets": "2023-05-01",
    "locations": "2022-12-01",
    "resource_group": "2021-04-01",
}


ARM_SCOPE = "https://management.azure.com/.default"


class AzureCallError(Exception):
    """An Azure call answered with an error (status and Azure's error code)."""

    def __init__(self, status: int, code: str = "", message: str = "") -> None:
        super().__init__(f"{status} {code}: {message}".strip())
        self.status = status
        self.code = code
        self.message = message


class DoctorSource(Protocol):
    """The read-only calls the checks make. Every method may raise AzureCallError."""

    def arm_get(self, path: str, api_version: str) -> dict[str, Any]:
        """GET https://management.azure.com{path}?api-version=..., parsed."""
        ...

    def resolve(self, host: str) -> list[str]:
        """The addresses `host` resolves to from here (empty when it does not resolve)."""
        ...

    def can_connect(self, host: str, port: int) -> bool: ...

    def image_exists(self, image: str) -> bool:
        """Whether `registry/repository:tag` has a manifest."""
        ...

    def mlflow_get(self, tracking_path: str, params: dict[str, str]) -> tuple[int, dict]:
        """GET on the workspace's MLflow REST API: (HTTP status, JSON body)."""
        ...


class AzureSource:
    """Read-only calls to Azure through azure-core, with the package's credential."""

    def __init__(
        self,
        location: str,
        coordinates: WorkspaceCoordinates,
        credential: Any | None = None,
        transport: Any | None = None,
    ) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy

        from .credentials import azure_credential

        self.location = location
        self.coordinates = coordinates
        credential = credential or azure_credential()
        policies = [RetryPolicy(retry_total=2), BearerTokenCredentialPolicy(credential, ARM_SCOPE)]
        # `transport`: azure-core's, replaceable (the tests answer from recorded responses).
        extra = {"transport": transport} if transport is not None else {}
        self._arm = PipelineClient("https://management.azure.com", policies=policies, **extra)
        self._plain = PipelineClient("https://mcr.microsoft.com", policies=[RetryPolicy()], **extra)

    def _send(self, client: Any, url: str, method: str = "GET", **params: str) -> Any:
        from azure.core.rest import HttpRequest

        # A path becomes an absolute URL on the client's base (send_request does not do it).
        return client.send_request(HttpRequest(method, client.format_url(url), params=params))

    def arm_get(self, path: str, api_version: str) -> dict[str, Any]:
        response = self._send(self._arm, path, **{"api-version": api_version})
        if response.status_code >= 400:
            try:
                error = response.json().get("error", {})
            except ValueError:
                error = {}
            raise AzureCallError(
                response.status_code, error.get("code", ""), error.get("message", "")
            )
        return response.json()

    def resolve(self, host: str) -> list[str]:
        try:
            return sorted({info[4][0] for info in socket.getaddrinfo(host, 443)})
        except socket.gaierror:
            return []

    def can_connect(self, host: str, port: int) -> bool:
        try:
            with socket.create_connection((host, port), timeout=5):
                return True
        except OSError:
            return False

    def image_exists(self, image: str) -> bool:
        registry, _, rest = image.partition("/")
        repository, _, tag = rest.rpartition(":")
        url = f"https://{registry}/v2/{repository}/manifests/{tag}"
        accept = (
            "application/vnd.oci.image.index.v1+json, "
            "application/vnd.docker.distribution.manifest.list.v2+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        )
        from azure.core.rest import HttpRequest

        response = self._plain.send_request(HttpRequest("HEAD", url, headers={"Accept": accept}))
        return response.status_code == 200

    def mlflow_get(self, tracking_path: str, params: dict[str, str]) -> tuple[int, dict]:
        c = self.coordinates
        url = (
            f"https://{self.location}.api.azureml.ms/mlflow/v2.0"
            f"/subscriptions/{c.subscription_id}/resourceGroups/{c.resource_group_name}"
            "/providers/Microsoft.MachineLearningServices/workspaces/"
            f"{c.workspace_name}/api/2.0/mlflow/{tracking_path}"
        )
        response = self._send(self._arm, url, **params)
        try:
            body = response.json()
        except ValueError:
            body = {}
        return response.status_code, body if isinstance(body, dict) else {}
