"""Model registration, champion lookup and the guarded promotion, through one code path.

The same calls work on a local SQLite store and on the Azure ML tracking server, which lacks
`log_model` and may lack aliases: models are registered from run artifacts with
`create_model_version`, and the champion is marked twice, by the alias `champion` (where
aliases are on) and by the version tag `production=true` (everywhere).

Whether aliases are on is configured (`tracking.aliases: auto | on | off`), never inferred from
the error of a registry call: `auto` means off for `azureml://` stores and otherwise whatever
one dedicated probe finds (`probe_aliases`), once per store and process. With aliases off the
champion is the newest version carrying the production tag, moved under the same lock by the
same transition. Any error of the gate's own calls stays an error.

Every registry call goes through `call()`, so a store failure (auth, 5xx, timeout, a locked
SQLite file) is a `RegistryError` naming the store and the call. Only "this model or alias does
not exist" means "no champion": an error must never read as an empty registry, or a challenger
would be promoted over a champion the store merely failed to return.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from .errors import PipelineError
from .limits import fit_tag_value

CHAMPION_ALIAS = "champion"
PRODUCTION_TAG = "production"
DIGEST_TAG = "model.sha256"
ALIAS_MODES = ("auto", "on", "off")
# A model name no project uses: the probe asks for its alias, which cannot exist.
PROBE_MODEL = "__alias-probe__"
# What an alias route of a store without aliases answers the probe while the registry's own
# routes work: 403 (Azure ML has been reported to), 404 or 501 from a server without the route.
_PROBE_UNSUPPORTED = {
    "PERMISSION_DENIED",
    "ENDPOINT_NOT_FOUND",
    "NOT_IMPLEMENTED",
    "FEATURE_DISABLED",
}
_alias_modes: dict[str, str] = {}  # store URI -> configured mode
_probed: dict[str, bool] = {}  # store URI -> what the probe found

T = TypeVar("T")


class RegistryError(PipelineError):
    """A registry call failed for another reason than "does not exist"."""


def store_uri(client: MlflowClient) -> str:
    return str(getattr(client, "_registry_uri", None) or client.tracking_uri)


def is_missing(error: MlflowException) -> bool:
    """The model, version or alias does not exist (SQL stores report a missing alias as an
    invalid parameter 'alias ... not found')."""
    if error.error_code == "RESOURCE_DOES_NOT_EXIST":
        return True
    return error.error_code == "INVALID_PARAMETER_VALUE" and "not found" in str(error.message)


def call(client: MlflowClient, name: str, function: Callable[..., T], *args: Any) -> T:
    """Run one registry call; any failure becomes a RegistryError naming the store and call.

    Callers that accept "does not exist" catch `RegistryError` and look at `__cause__`.
    """
    try:
        return function(*args)
    except MlflowException as error:
        raise RegistryError(
            f"model registry {store_uri(client)}: {name}{args!r} failed "
            f"({error.error_code}: {error.message})"
        ) from error
    except Exception as error:  # drivers raise their own types (sqlite locked, timeouts)
        raise RegistryError(
            f"model registry {store_uri(client)}: {name}{args!r} failed "
            f"({type(error).__name__}: {error})"
        ) from error


def _missing(error: RegistryError) -> bool:
    cause = error.__cause__
    return isinstance(cause, MlflowException) and is_missing(cause)


def configure_aliases(uri: str, mode: str) -> None:
    """Use aliases on the store at `uri`: "on", "off", or "auto" (see the module docstring)."""
    if mode not in ALIAS_MODES:
        raise PipelineError(f"tracking.aliases '{mode}' must be one of {', '.join(ALIAS_MODES)}")
    _alias_modes[uri] = mode
    _probed.pop(uri, None)


def aliases_enabled(client: MlflowClient) -> bool:
    uri = store_uri(client)
    mode = _alias_modes.get(uri, "auto")
    if mode != "auto":
        return mode == "on"
    if uri.startswith("azureml:"):
        return False
    if uri not in _probed:
        _probed[uri] = probe_aliases(client)
    return _probed[uri]


def probe_aliases(client: MlflowClient) -> bool:
    """Does this store implement model aliases? First a plain registry read must succeed (else
    the store is failing, not lacking a feature: RegistryError); then the alias of a model that
    cannot exist is asked for: "does not exist" means supported; a 403, 404 or 501 from the
    alias route means unsupported; anything else cannot be told apart from an outage and is an
    error that says to set `tracking.aliases` explicitly."""
    call(client, "search_registered_models", lambda: client.search_registered_models(max_results=1))
    try:
        call(
            client,
            "get_model_version_by_alias",
            client.get_model_version_by_alias,
            PROBE_MODEL,
            CHAMPION_ALIAS,
        )
    except RegistryError as error:
        if _missing(error):
            return True
        cause = error.__cause__
        if isinstance(cause, MlflowException) and cause.error_code in _PROBE_UNSUPPORTED:
            return False
        raise RegistryError(
            f"{error}; the alias probe cannot tell whether {store_uri(client)} supports aliases: "
            "set tracking.aliases to on or off"
        ) from cause
    return True  # a store that answers for a model that cannot exist has the route


def get_champion_version(client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The version currently promoted: the alias where aliases are on, else (or when the alias
    is not set) the newest version with the production tag. None only when the store says
    nothing exists."""
    if aliases_enabled(client):
        champion = _champion_alias_call(client, "get_model_version_by_alias", model_name)
        if champion is not None:
            return champion
    tagged = [v for v in list_versions(client, model_name) if v.tags.get(PRODUCTION_TAG) == "true"]
    return max(tagged, key=lambda v: int(v.version), default=None)


def list_versions(client: MlflowClient, model_name: str) -> list[ModelVersion]:
    """Every version of the model, newest first; empty when the model does not exist."""
    escaped = model_name.replace("'", "\\'")
    try:
        versions = call(
            client,
            "search_model_versions",
            client.search_model_versions,
            f"name = '{escaped}'",
        )
    except RegistryError as error:
        if _missing(error):
            return []
        raise
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def get_version(client: MlflowClient, model_name: str, version: str) -> ModelVersion:
    return call(client, "get_model_version", client.get_model_version, model_name, version)


def register_version(
    client: MlflowClient,
    model_name: str,
    source_uri: str,
    run_id: str,
    tags: dict[str, str],
) -> ModelVersion:
    """Register the model stored at `source_uri` (an artifact of run `run_id`, the same run)
    as a new version, then tag it one tag at a time, in the order given.

    Tags are never passed to `create_model_version` (Azure ML has refused tags at creation).
    Put the digest last: a version whose tagging failed half-way has no digest, and `deploy`
    refuses a version without one."""
    try:
        call(client, "create_registered_model", client.create_registered_model, model_name)
    except RegistryError as error:
        cause = error.__cause__
        if not (
            isinstance(cause, MlflowException) and cause.error_code == "RESOURCE_ALREADY_EXISTS"
        ):
            raise
    version = call(
        client,
        "create_model_version",
        lambda: client.create_model_version(model_name, source=source_uri, run_id=run_id),
    )
    try:
        tag_version(client, model_name, str(version.version), tags)
    except RegistryError as error:
        raise RegistryError(
            f"{model_name} v{version.version} was created but tagging it failed, so it has no "
            f"digest and can never be deployed: {error}"
        ) from error
    return get_version(client, model_name, str(version.version))


def tag_version(client: MlflowClient, model_name: str, version: str, tags: dict[str, str]) -> None:
    """One call per tag; values longer than Azure's 256 characters are cut with a marker."""
    for key, value in tags.items():
        call(
            client,
            "set_model_version_tag",
            client.set_model_version_tag,
            model_name,
            version,
            key,
            fit_tag_value(str(value)),
        )


def _set_alias(client: MlflowClient, model_name: str, version: str) -> None:
    if not aliases_enabled(client):
        return
    call(
        client,
        "set_registered_model_alias",
        client.set_registered_model_alias,
        model_name,
        CHAMPION_ALIAS,
        version,
    )


def _champion_alias_call(client: MlflowClient, method: str, model_name: str) -> Any:
    """`client.<method>(model_name, CHAMPION_ALIAS)`; None when the model or the alias does
    not exist. Any other registry error propagates."""
    try:
        return call(client, method, getattr(client, method), model_name, CHAMPION_ALIAS)
    except RegistryError as error:
        if not _missing(error):
            raise
        return None


def _delete_alias(client: MlflowClient, model_name: str) -> None:
    if aliases_enabled(client):
        _champion_alias_call(client, "delete_registered_model_alias", model_name)


def _set_production(client: MlflowClient, model_name: str, version: str) -> None:
    call(
        client,
        "set_model_version_tag",
        client.set_model_version_tag,
        model_name,
        version,
        PRODUCTION_TAG,
        "true",
    )


def _clear_production(client: MlflowClient, model_name: str, version: str) -> None:
    call(
        client,
        "delete_model_version_tag",
        client.delete_model_version_tag,
        model_name,
        version,
        PRODUCTION_TAG,
    )


def promote(
    client: MlflowClient,
    model_name: str,
    version: str,
    previous: ModelVersion | None,
) -> None:
    """Move the champion from `previous` to `version`; the caller holds the model's lock.

    Order: tag the new version, move the alias (the commit point: readers go by the alias),
    untag the previous one. A failure at any point restores the previous champion's alias and
    tag; if even that fails, the error says exactly what to repair.
    """
    old = None if previous is None else str(previous.version)
    if old == str(version):
        return
    try:
        _set_production(client, model_name, version)
        _set_alias(client, model_name, version)
        if old is not None:
            _clear_production(client, model_name, old)
    except RegistryError as error:
        restore_champion(client, model_name, old, replaced=version, cause=error)
        raise RegistryError(
            f"promotion of {model_name} v{version} failed and was rolled back "
            f"(champion: {'none' if old is None else 'v' + old}): {error}"
        ) from error


def restore_champion(
    client: MlflowClient,
    model_name: str,
    champion: str | None,
    *,
    replaced: str,
    cause: Exception,
) -> None:
    """Put alias and production tag back on `champion` (None: no champion) and off `replaced`."""
    try:
        if champion is None:
            _delete_alias(client, model_name)
        else:
            _set_production(client, model_name, champion)
            _set_alias(client, model_name, champion)
        _clear_production_if_set(client, model_name, replaced)
    except RegistryError as repair_error:
        target = "no champion" if champion is None else f"v{champion}"
        raise RegistryError(
            f"{cause}; restoring the champion also failed ({repair_error}): set alias "
            f"'{CHAMPION_ALIAS}' and tag {PRODUCTION_TAG}=true on {target} of {model_name} and "
            f"remove the tag from v{replaced} by hand"
        ) from cause


def _clear_production_if_set(client: MlflowClient, model_name: str, version: str) -> None:
    if get_version(client, model_name, version).tags.get(PRODUCTION_TAG) is not None:
        _clear_production(client, model_name, version)
