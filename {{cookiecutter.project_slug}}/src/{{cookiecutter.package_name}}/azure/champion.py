"""One champion per workspace, and in the training workspace it is what serves production.

The gate compares every challenger with the champion of the workspace it runs in: the first
environment's, where training and evaluation run. Versions are promoted in the production
environment's workspace when its rollout succeeds (`endpoint_ops.mark_serving`); nothing there
reaches the training workspace, since no identity reads another environment's workspace. So
after a successful production rollout, CI marks the same version as champion in the training
workspace, under the training environment's identity:

    <package> azure mark-champion --environment <first> --version V --digest D

The version must be registered there with the same files (its `model.sha256` tag is D), else
nothing changes. The move is `registry.promote`: the production tag (and the alias where
aliases are on) go to V and off the previous champion, rolled back if it fails half-way. With
one environment, the production rollout happens in the training workspace and promotes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import registry
from ..errors import PipelineError
from ..registry import DIGEST_TAG


@dataclass(frozen=True)
class ChampionMark:
    model_name: str
    version: str
    previous: str | None

    def describe(self) -> str:
        if self.previous == self.version:
            return f"{self.model_name} v{self.version} already is the champion"
        was = "none" if self.previous is None else f"v{self.previous}"
        return f"{self.model_name} v{self.version} is the champion (was {was})"


def mark_champion(client: Any, model_name: str, version: str, digest: str) -> ChampionMark:
    """Make `version` the champion in the registry `client` reads (an `MlflowClient`), after
    checking that its registered files are the ones with sha256 `digest`."""
    if not digest:
        raise PipelineError("--digest is required: the champion is named by its files too")
    found = registry.get_version(client, model_name, version).tags.get(DIGEST_TAG, "")
    if found != digest:
        raise PipelineError(
            f"{model_name} v{version} here has digest {found[:12] or 'none'}, not "
            f"{digest[:12]}: it is not the version that serves production; champion unchanged"
        )
    champion = registry.get_champion_version(client, model_name)
    previous = None if champion is None else str(champion.version)
    registry.promote(client, model_name, version, champion)
    return ChampionMark(model_name, version, previous)
