"""What each environment serves: one deployment record per model and environment.

The record lives in the model registry itself, so it is in the same store as the champion it
must agree with: as the registered model's tag `deployment.<environment>` (compact JSON), or,
where model-level tags are off (`tracking.model_tags`; auto = off for `azureml://` stores,
whose MLflow documentation covers version tags only), as the same tag on the version it names.
Either way the record itself is committed in one call. Every tag value stays within Azure's
256 characters (`limits.py`): the model name and environment are implied by where the tag is,
and the rollout's details (endpoint, deployment) go first into their own tag,
`deployment.<environment>.details`.
`deploy` writes it after a successful rollout and before it moves the champion; `serve` and
the Azure rollout read it. It names the exact version and the model files' sha256, so what
starts can be verified to be what was deployed.

    record = read_deployment(settings, "prod")        # None: nothing deployed there yet
    record_deployment(settings, DeploymentRecord(...))
    restore_deployment(settings, "prod", record)      # undo, e.g. when promotion fails
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from mlflow import MlflowClient

from .config import Settings
from .errors import PipelineError
from .limits import check_resource_tags
from .registry import RegistryError, call, configure_aliases, is_missing, list_versions

TAG_PREFIX = "deployment."
DETAILS_SUFFIX = ".details"
LOCAL_ENVIRONMENT = "local"


@dataclass(frozen=True)
class DeploymentRecord:
    """The exact model version an environment serves, and how to verify it."""

    model_name: str
    environment: str
    version: str
    digest: str  # sha256 of the model folder (lineage.model_digest)
    target: str = "local"  # backend that performed the rollout: local | azure
    run_id: str | None = None  # the run whose deploy step wrote this record
    deployed_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    details: dict[str, str] = field(default_factory=dict)  # e.g. endpoint and deployment names

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


def client_for(settings: Settings) -> MlflowClient:
    configure_aliases(settings.tracking_uri, settings.tracking.aliases)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def read_deployment(
    settings: Settings, environment: str, client: MlflowClient | None = None
) -> DeploymentRecord | None:
    """The last successful deployment to `environment`, or None if there was none."""
    client = client or client_for(settings)
    tags = (
        _model_tags(settings, client)
        if model_tags_enabled(settings)
        else _newest_version_record(settings, environment, client)
    )
    raw = tags.get(TAG_PREFIX + environment)
    if not raw:
        return None
    try:
        values = json.loads(raw)
        values.setdefault("model_name", settings.model_name)
        values.setdefault("environment", environment)
        details = tags.get(TAG_PREFIX + environment + DETAILS_SUFFIX)
        if details and "details" not in values:  # (records before 256-char tags held them)
            values["details"] = json.loads(details)
        return DeploymentRecord(**values)
    except (ValueError, TypeError) as error:
        raise PipelineError(
            f"the deployment record of '{environment}' (tag {TAG_PREFIX}{environment} on model "
            f"{settings.model_name}) is unreadable ({error}): redeploy with `deploy`"
        ) from None


def record_deployment(
    settings: Settings, record: DeploymentRecord, client: MlflowClient | None = None
) -> None:
    """Record a successful rollout: from now on `record.environment` serves `record.version`."""
    client = client or client_for(settings)
    tags = record_tags(record)
    check_resource_tags(tags, resource=f"the deployment record of model {record.model_name}")
    if not model_tags_enabled(settings):
        _move_version_record(client, record, tags)
        return
    for key, value in tags.items():  # the details first: the record itself is the commit
        call(
            client,
            "set_registered_model_tag",
            client.set_registered_model_tag,
            record.model_name,
            key,
            value,
        )


def record_tags(record: DeploymentRecord) -> dict[str, str]:
    """The record as registered-model tags: its details (always written, so none are left from
    an earlier record), then the record itself."""
    key = TAG_PREFIX + record.environment
    values = asdict(record)
    del values["model_name"], values["environment"]  # implied by the model and the tag name
    details = values.pop("details")
    return {key + DETAILS_SUFFIX: _compact(details), key: _compact(values)}


def _compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def restore_deployment(
    settings: Settings,
    environment: str,
    previous: DeploymentRecord | None,
    client: MlflowClient | None = None,
) -> None:
    """Put back the record as it was before a transition that failed half-way."""
    client = client or client_for(settings)
    if not model_tags_enabled(settings):
        # Off every other version first: the newest record must never be the failed one.
        keep = None if previous is None else previous.version
        _clear_version_records(client, settings.model_name, environment, keep=keep)
        if previous is not None:
            record_deployment(settings, previous, client)
        return
    if previous is not None:
        record_deployment(settings, previous, client)
        return
    call(
        client,
        "delete_registered_model_tag",
        client.delete_registered_model_tag,
        settings.model_name,
        TAG_PREFIX + environment,
    )


def model_tags_enabled(settings: Settings) -> bool:
    """Keep records as registered-model tags? `tracking.model_tags`: on, off, or auto (off for
    azureml:// stores: Azure ML's MLflow registry documents editing version tags, not model
    tags; learn.microsoft.com/azure/machine-learning/how-to-manage-models-mlflow, 2026-12)."""
    mode = settings.tracking.model_tags
    if mode == "auto":
        return not settings.tracking_uri.startswith("azureml:")
    return mode == "on"


def _model_tags(settings: Settings, client: MlflowClient) -> dict[str, str]:
    try:
        model = call(
            client, "get_registered_model", client.get_registered_model, settings.model_name
        )
    except RegistryError as error:
        cause = error.__cause__
        if getattr(cause, "error_code", None) and is_missing(cause):  # type: ignore[arg-type]
            return {}
        raise
    return dict(model.tags)


def _newest_version_record(
    settings: Settings, environment: str, client: MlflowClient
) -> dict[str, str]:
    """The tags of the version carrying the newest record of `environment`: between writing the
    new record and clearing the old one, two versions carry one, and the newer one counts."""
    key = TAG_PREFIX + environment
    carrying = [v for v in list_versions(client, settings.model_name) if v.tags.get(key)]
    if not carrying:
        return {}
    newest = max(carrying, key=lambda v: (_deployed_at(v.tags[key]), int(v.version)))
    return dict(newest.tags)


def _deployed_at(raw: str) -> str:
    try:
        return str(json.loads(raw).get("deployed_at", ""))
    except (ValueError, AttributeError):
        return ""


def _move_version_record(
    client: MlflowClient, record: DeploymentRecord, tags: dict[str, str]
) -> None:
    """Tag the deployed version (details first, the record last: the commit), then take the
    record off every other version."""
    for key, value in tags.items():
        call(
            client,
            "set_model_version_tag",
            client.set_model_version_tag,
            record.model_name,
            record.version,
            key,
            value,
        )
    _clear_version_records(client, record.model_name, record.environment, keep=record.version)


def _clear_version_records(
    client: MlflowClient, model_name: str, environment: str, *, keep: str | None
) -> None:
    key = TAG_PREFIX + environment
    for version in list_versions(client, model_name):
        if str(version.version) == keep:
            continue
        for tag in (key, key + DETAILS_SUFFIX):  # the record first: then it no longer counts
            if tag in version.tags:
                call(
                    client,
                    "delete_model_version_tag",
                    client.delete_model_version_tag,
                    model_name,
                    str(version.version),
                    tag,
                )
