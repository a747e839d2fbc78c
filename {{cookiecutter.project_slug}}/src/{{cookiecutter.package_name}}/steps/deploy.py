"""Step 5: the one champion transition: roll out, record, then promote, under the model's lock."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient

from .. import registry
from ..config import Settings
from ..deployments import (
    LOCAL_ENVIRONMENT,
    DeploymentRecord,
    read_deployment,
    record_deployment,
    restore_deployment,
)
from ..errors import PipelineError
from ..lineage import model_digest
from ..locking import ModelLock, local_lock
from ..model_files import materialize_version
from ..registry import DIGEST_TAG, RegistryError
from .records import read_record, write_record
from .register import Registration

DEPLOYMENT_RECORD = "deployment.json"


@dataclass(frozen=True)
class Deployment:
    model_name: str
    version: str | None
    model_uri: str | None
    changed: bool
    target: str = "local"
    promoted: bool = False
    reason: str = ""
    previous_champion: str | None = None
    environment: str = LOCAL_ENVIRONMENT
    digest: str | None = None

    def describe(self) -> str:
        if self.version is None:
            return "nothing to serve: there is no champion"
        if self.promoted:
            return f"v{self.version} promoted to champion, now serving {self.model_uri}"
        state = "now serving" if self.changed else "still serving"
        return f"{state} {self.model_uri}"

    @classmethod
    def read(cls, folder: Path) -> Deployment:
        return cls(**read_record(folder, DEPLOYMENT_RECORD))


def rollout_local(settings: Settings, model_name: str, version: str, digest: str) -> None:
    """Locally, rolling out means materializing the exact version where `serve` loads it and
    verifying its files against the digest."""
    materialize_version(settings, model_name, version, digest)


def deploy(
    registration: Registration,
    output_dir: Path,
    settings: Settings,
    *,
    lock: ModelLock | None = None,
    environment: str = LOCAL_ENVIRONMENT,
) -> Deployment:
    """The one champion transition: deploy, record, then promote, under the model's lock.

    Inside the lock the champion is read again: a candidate is deployed and promoted only if
    the champion is still the one the gate compared it with. The candidate is rolled out and
    the deployment record written first, then the champion moves; if the promotion fails the
    record is restored. A failure before that changes nothing. A version that is not a
    candidate leaves the champion in place and (re)deploys it if the environment does not
    serve it yet.
    """
    name = registration.model_name
    if name != settings.model_name:
        raise PipelineError(
            f"the registration is for model '{name}', not '{settings.model_name}': pass the "
            "matching --model-name"
        )
    client = MlflowClient()
    with (lock or local_lock(settings)).hold(name):
        champion = registry.get_champion_version(client, name)
        current = None if champion is None else str(champion.version)
        previous = read_deployment(settings, environment, client)
        promote, reason = registration.candidate, registration.reason
        if promote and current != registration.champion_version:
            promote = False
            was = registration.champion_version
            reason = (
                f"champion changed from {'none' if was is None else 'v' + was} to v{current} "
                "while this run was evaluating; re-run to compare against the new champion"
            )
        elif promote and champion is not None and registration.champion_digest:
            recorded = champion.tags.get(DIGEST_TAG)
            if recorded and recorded != registration.champion_digest:
                promote = False
                reason = f"champion v{current}'s files are not those the gate compared with"
        if promote:
            target, digest = registration.version, _verified_digest(client, registration)
        elif champion is not None:
            target, digest = current, champion.tags.get(DIGEST_TAG)
        else:
            target, digest = None, None
        registry.tag_version(
            client,
            name,
            registration.version,
            {"decision.promoted": str(promote), "decision.final": reason},
        )
        try:
            changed, digest = _roll_out_and_record(
                settings, client, name, target, digest, previous, environment
            )
            if promote:
                _promote_or_restore(client, settings, registration, champion, environment, previous)
        except PipelineError as error:
            with contextlib.suppress(PipelineError):  # the decision tags say what happened
                registry.tag_version(
                    client,
                    name,
                    registration.version,
                    {
                        "decision.promoted": "False",
                        "decision.final": f"deploy failed: {error}",  # cut to 256 chars
                    },
                )
            raise
    deployment = Deployment(
        model_name=name,
        version=target,
        model_uri=None if target is None else f"models:/{name}/{target}",
        changed=changed,
        target=settings.backend,
        promoted=promote,
        reason=reason,
        previous_champion=current,
        environment=environment,
        digest=digest,
    )
    write_record(output_dir, DEPLOYMENT_RECORD, deployment)
    if mlflow.active_run():
        mlflow.log_dict(asdict(deployment), "deployment.json")
        mlflow.set_tags({"promoted": str(promote)})
    return deployment


def _roll_out_and_record(
    settings: Settings,
    client: MlflowClient,
    name: str,
    target: str | None,
    digest: str | None,
    previous: DeploymentRecord | None,
    environment: str,
) -> tuple[bool, str | None]:
    """Roll `target` out unless the environment already serves it, then record it; returns
    whether anything changed and the digest deployed."""
    if target is None or (
        previous is not None and previous.version == target and previous.digest == digest
    ):
        return False, digest
    if digest is None:  # a champion registered before digests were recorded
        digest = model_digest(materialize_version(settings, name, target) / "model")
    rollout_local(settings, name, target, digest)
    run = mlflow.active_run()
    record_deployment(
        settings,
        DeploymentRecord(
            name,
            environment,
            target,
            digest,
            target=settings.backend,
            run_id=None if run is None else run.info.run_id,
        ),
        client,
    )
    return True, digest


def _verified_digest(client: MlflowClient, registration: Registration) -> str:
    """The candidate's digest as registered must be the one the registration record names."""
    version = registry.get_version(client, registration.model_name, registration.version)
    recorded = version.tags.get(DIGEST_TAG)
    if not recorded or recorded != registration.digest:
        raise PipelineError(
            f"{registration.model_name} v{registration.version} is registered with sha256 "
            f"{str(recorded)[:12]}, but the registration record says "
            f"{str(registration.digest)[:12]}: refusing to deploy; pass the output folder of "
            "the register step that registered this version"
        )
    return recorded


def _promote_or_restore(
    client: MlflowClient,
    settings: Settings,
    registration: Registration,
    champion: Any,
    environment: str,
    previous: DeploymentRecord | None,
) -> None:
    """Move the champion; if that fails, put the deployment record back as it was."""
    name, version = registration.model_name, registration.version
    try:
        registry.promote(client, name, version, champion)
    except RegistryError as error:
        was = "nothing" if previous is None else f"v{previous.version}"
        try:
            restore_deployment(settings, environment, previous, client)
        except RegistryError as restore_error:
            raise RegistryError(
                f"{error}; restoring the deployment record of '{environment}' to {was} also "
                f"failed ({restore_error}): run `deploy` again once the store is healthy"
            ) from error
        raise RegistryError(
            f"{error}; the deployment record of '{environment}' was restored ({was})"
        ) from error
