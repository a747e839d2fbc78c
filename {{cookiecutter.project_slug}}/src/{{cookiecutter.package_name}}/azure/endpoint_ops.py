"""The real `EndpointOperations`: thin calls to azure-ai-ml (and Azure Monitor for autoscale).

Everything that decides lives in `rollout.py`; everything that can be computed without Azure
(payloads, health verdicts, tags) is a pure function here, tested offline. The rest is a call
each, whose failure the state machine turns into a rollback.

The rollout's journal and the deployment record are tags on the online endpoint itself, so a
rollout interrupted on one CI agent is seen by the next `deploy` on another.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import PipelineError
from ..limits import check_resource_tags, fit_tags
from . import endpoints
from .rollout import RolloutState

logger = logging.getLogger(__name__)

JOURNAL_PREFIX = "rollout."
RECORD_PREFIX = "deployed."
PREVIOUS_PREFIX = "previous."
AUTOSCALE_API_VERSION = "2022-10-01"


class RolloutCheckError(PipelineError):
    """A smoke test or health check found the new deployment unfit to serve."""


# --- pure helpers -----------------------------------------------------------------------------


def smoke_payloads(example: Mapping[str, Any], rows: int) -> tuple[dict, dict]:
    """A valid request (the model's own input example, split orient, up to `rows` rows) and one
    the scoring script must reject with a 4xx (a column missing)."""
    columns = list(example["columns"])
    # Missing values (NaN in MLflow's example file) travel as JSON null, as clients send them.
    data = [[None if _is_nan(value) else value for value in row] for row in example["data"]]
    if not data:
        raise RolloutCheckError("the model's input example has no rows to smoke-test with")
    while len(data) < rows:
        data = data + data
    good = {"input_data": {"columns": columns, "data": data[:rows]}}
    bad = {"input_data": {"columns": columns[1:], "data": [row[1:] for row in data[:1]]}}
    return good, bad


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def check_smoke(good: tuple[int, Any], bad: tuple[int, Any], rows: int) -> None:
    """Raise unless the valid request got `rows` predictions and the invalid one a 4xx."""
    status, body = good
    if status != 200:
        raise RolloutCheckError(f"a valid request got HTTP {status}: {str(body)[:200]}")
    predictions = body.get("predictions") if isinstance(body, dict) else None
    if not isinstance(predictions, list) or len(predictions) != rows:
        raise RolloutCheckError(f"a valid request of {rows} rows got {str(body)[:200]}")
    status, body = bad
    if not 400 <= status < 500:
        raise RolloutCheckError(f"an invalid request got HTTP {status}, not a 4xx")


@dataclass(frozen=True)
class HealthSample:
    requests: int
    errors: int
    latencies_ms: tuple[float, ...]

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 1.0

    @property
    def p95_ms(self) -> float:
        if len(self.latencies_ms) < 2:
            return max(self.latencies_ms, default=float("inf"))
        return statistics.quantiles(self.latencies_ms, n=20)[-1]


def check_health(sample: HealthSample, *, max_error_rate: float, max_p95_ms: float) -> str:
    """A one-line verdict; raises when errors or latency exceed the configured limits."""
    verdict = f"{sample.requests} requests, {sample.errors} errors, p95 {sample.p95_ms:.0f} ms"
    if sample.error_rate > max_error_rate:
        raise RolloutCheckError(
            f"error rate {sample.error_rate:.1%} > {max_error_rate:.1%} ({verdict})"
        )
    if sample.p95_ms > max_p95_ms:
        raise RolloutCheckError(
            f"p95 latency {sample.p95_ms:.0f} ms > {max_p95_ms:.0f} ms ({verdict})"
        )
    return verdict


def journal_tags(state: RolloutState) -> dict[str, str]:
    """The journal as endpoint tags, each value within ARM's 256 characters: a long error is
    cut with a marker (the summary file and the logs keep the full text)."""
    return fit_tags({f"{JOURNAL_PREFIX}{key}": value for key, value in state.to_record().items()})


def journal_from_tags(tags: Mapping[str, str]) -> RolloutState | None:
    record = {
        k.removeprefix(JOURNAL_PREFIX): v for k, v in tags.items() if k.startswith(JOURNAL_PREFIX)
    }
    return RolloutState.from_record(record) if record.get("phase") else None


def record_tags(state: RolloutState, current: Mapping[str, str]) -> dict[str, str]:
    """The deployment record after `state` succeeded; the replaced one becomes `previous.*`,
    which is what `azure rollback` puts back."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    tags = {
        f"{RECORD_PREFIX}environment": state.environment,
        f"{RECORD_PREFIX}deployment": state.new,
        f"{RECORD_PREFIX}model": state.model_name,
        f"{RECORD_PREFIX}version": state.version,
        f"{RECORD_PREFIX}digest": state.digest,
        f"{RECORD_PREFIX}at": now,
    }
    old_version = current.get(f"{RECORD_PREFIX}version")
    if old_version and old_version != state.version:
        for key in ("version", "digest", "at"):
            tags[f"{PREVIOUS_PREFIX}{key}"] = current.get(f"{RECORD_PREFIX}{key}", "")
    else:  # redeploying the same version keeps the rollback target
        tags.update({k: v for k, v in current.items() if k.startswith(PREVIOUS_PREFIX)})
    return tags


def live_deployment_from(traffic: Mapping[str, int]) -> str | None:
    """The one deployment taking all traffic, None for an endpoint without traffic."""
    serving = {name: share for name, share in traffic.items() if share}
    if not serving:
        return None
    if len(serving) == 1 and next(iter(serving.values())) == 100:
        return next(iter(serving))
    raise PipelineError(
        f"traffic is split {serving} with no unfinished rollout recorded on the endpoint: "
        "set it to 100% on one deployment (az ml online-endpoint update --traffic) and retry"
    )


# --- the Azure implementation ----------------------------------------------------------------


class AzureEndpointOperations:
    """`EndpointOperations` for one managed online endpoint, through an `MLClient`."""

    def __init__(
        self,
        client: Any,
        settings: Settings,
        endpoint_name: str,
        *,
        mark_serving: Callable[[RolloutState], None],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.settings = settings
        self.endpoint_name = endpoint_name
        self.mark_serving = mark_serving
        self.sleep = sleep
        self._example: dict[str, Any] | None = None
        self._version: str | None = None

    # endpoint and tags
    def _endpoint(self) -> Any:
        return self.client.online_endpoints.get(self.endpoint_name)

    def _update_endpoint(self, change: Callable[[Any], None]) -> None:
        endpoint = self._endpoint()
        change(endpoint)
        check_resource_tags(endpoint.tags or {}, resource=f"endpoint {self.endpoint_name}")
        self.client.online_endpoints.begin_create_or_update(endpoint).result()

    def save_state(self, state: RolloutState) -> None:
        self._update_endpoint(lambda endpoint: endpoint.tags.update(journal_tags(state)))

    def load_state(self) -> RolloutState | None:
        return journal_from_tags(self._endpoint().tags or {})

    def live_deployment(self) -> str | None:
        return live_deployment_from(self._endpoint().traffic or {})

    def recorded(self) -> dict[str, str]:
        return {k: v for k, v in (self._endpoint().tags or {}).items() if "." in k}

    # deployments
    def create_deployment(self, name: str, version: str, digest: str) -> None:
        deployment = endpoints.online_deployment(
            self.settings,
            endpoint_name=self.endpoint_name,
            deployment_name=name,
            version=version,
            digest=digest,
        )
        self._version = version
        self.client.online_deployments.begin_create_or_update(deployment).result()

    def delete_deployment(self, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):  # already gone: deleting is idempotent
            self.client.online_deployments.begin_delete(name, self.endpoint_name).result()

    def set_traffic(self, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
        def change(endpoint: Any) -> None:
            endpoint.traffic = dict(traffic)
            endpoint.mirror_traffic = dict(mirror)

        self._update_endpoint(change)

    def apply_autoscale(self, name: str) -> None:
        """One autoscale setting per deployment name, re-targeted when it is re-created."""
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy
        from azure.core.rest import HttpRequest
        from azure.mgmt.core import ARMPipelineClient

        deployment = self.client.online_deployments.get(name, self.endpoint_name)
        workspace = self.client.workspaces.get(self.client.workspace_name)
        body = endpoints.autoscale_setting(
            self.settings, deployment_id=deployment.id, location=workspace.location
        )
        scope = "https://management.azure.com/.default"
        arm = ARMPipelineClient(
            base_url="https://management.azure.com",
            policies=[BearerTokenCredentialPolicy(self.client._credential, scope)],
        )
        url = (
            f"https://management.azure.com/subscriptions/{self.client.subscription_id}/resourceGroups/"
            f"{self.client.resource_group_name}/providers/Microsoft.Insights/autoscalesettings/"
            f"autoscale-{self.endpoint_name}-{name}?api-version={AUTOSCALE_API_VERSION}"
        )
        response = arm.send_request(HttpRequest("PUT", url, json=body))
        if response.status_code >= 300:
            raise PipelineError(
                f"autoscale setting refused: HTTP {response.status_code} {response.text()[:300]}"
            )

    # checks
    def _input_example(self, version: str) -> dict[str, Any]:
        if self._example is None:
            with tempfile.TemporaryDirectory() as folder:
                self.client.models.download(self.settings.model_name, version, folder)
                found = sorted(Path(folder).rglob("input_example.json"))
                if not found:
                    raise RolloutCheckError(f"model v{version} has no input_example.json")
                self._example = json.loads(found[0].read_text())
        return self._example

    def _target(self) -> tuple[str, str]:
        """The scoring URI and a Microsoft Entra token, once per check (not per request)."""
        uri = self._endpoint().scoring_uri
        return uri, self.client.online_endpoints.get_keys(self.endpoint_name).access_token

    def _post(
        self, target: tuple[str, str], deployment: str, payload: dict
    ) -> tuple[int, Any, float]:
        import requests

        uri, token = target
        started = time.perf_counter()
        response = requests.post(
            uri,
            json=payload,
            headers={"Authorization": f"Bearer {token}", "azureml-model-deployment": deployment},
            timeout=self.settings.deployment.request_timeout_ms / 1000 + 10,
        )
        elapsed = (time.perf_counter() - started) * 1000
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return response.status_code, body, elapsed

    def _version_of(self, name: str) -> str:
        deployment = self.client.online_deployments.get(name, self.endpoint_name)
        return str(deployment.model).rsplit(":", 1)[-1].rsplit("/", 1)[-1]

    def smoke_test(self, name: str) -> None:
        rows = self.settings.deployment.smoke_test_rows
        good, bad = smoke_payloads(self._input_example(self._version_of(name)), rows)
        target = self._target()
        status, body, _ = self._post(target, name, good)
        bad_status, bad_body, _ = self._post(target, name, bad)
        check_smoke((status, body), (bad_status, bad_body), rows)

    def check_health(self, name: str, minutes: float) -> None:
        config = self.settings.deployment
        if minutes:
            self.sleep(minutes * 60)
        good, _ = smoke_payloads(self._input_example(self._version_of(name)), 1)
        latencies, errors, target = [], 0, self._target()
        for _ in range(config.health_requests):
            status, _, elapsed = self._post(target, name, good)
            latencies.append(elapsed)
            errors += status != 200
        sample = HealthSample(config.health_requests, errors, tuple(latencies))
        logger.info(
            "%s: %s",
            name,
            check_health(
                sample, max_error_rate=config.max_error_rate, max_p95_ms=config.max_p95_latency_ms
            ),
        )

    # record
    def record_deployment(self, state: RolloutState) -> None:
        """Record first (endpoint tags), and only then mark the version as serving."""
        self._update_endpoint(
            lambda endpoint: endpoint.tags.update(fit_tags(record_tags(state, endpoint.tags or {})))
        )
        self.mark_serving(state)


SERVING_TAG = "serving.{environment}"


def mark_serving(client: Any, state: RolloutState, *, settings: Settings) -> None:
    """After a successful rollout, in this order: the environment's deployment record (the one
    `deployments.py` keeps for every runner), the `serving.<env>` tag moved to this version,
    and in the production environment the guarded promotion, so what is tagged production is
    what serves production. A promotion that fails half-way is rolled back by `registry`."""
    from .. import registry
    from ..deployments import DeploymentRecord, record_deployment

    name, version = state.model_name, state.version
    record = DeploymentRecord(
        model_name=name,
        environment=state.environment,
        version=version,
        digest=state.digest,
        target="azure",
        details={"endpoint": state.endpoint, "deployment": state.new},
    )
    record_deployment(settings, record, client)
    tag = SERVING_TAG.format(environment=state.environment)
    client.set_model_version_tag(name, version, tag, "true")
    for other in registry.list_versions(client, name):
        if str(other.version) != version and other.tags.get(tag) == "true":
            client.delete_model_version_tag(name, str(other.version), tag)
    if state.environment == settings.deployment.production_environment:
        registry.promote(client, name, version, registry.get_champion_version(client, name))
