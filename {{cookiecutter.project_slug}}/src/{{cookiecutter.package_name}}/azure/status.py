"""Read-only views for the CLI: a job polled to its end, and where an endpoint stands."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Settings

TERMINAL_JOB_STATES = {"Completed", "Failed", "Canceled", "NotResponding", "Paused"}


def wait_for_job(
    get_status: Callable[[], str],
    *,
    timeout_minutes: float,
    poll_seconds: float = 30,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """The job's terminal status, or None when `timeout_minutes` passed first."""
    deadline = clock() + timeout_minutes * 60
    while True:
        status = get_status()
        if status in TERMINAL_JOB_STATES:
            return status
        if clock() >= deadline:
            return None
        sleep(min(poll_seconds, max(deadline - clock(), 0)))


def describe_endpoint(
    name: str,
    traffic: dict[str, int],
    mirror: dict[str, int],
    deployments: dict[str, str],
    tags: dict[str, str],
) -> list[str]:
    """`status --endpoint` lines: traffic, deployments, the record and any rollout under way."""
    from .endpoint_ops import PREVIOUS_PREFIX, RECORD_PREFIX, journal_from_tags
    from .rollout import needs_attention

    split = ", ".join(f"{dep} {share}%" for dep, share in traffic.items()) or "no traffic"
    lines = [f"endpoint {name}: {split}"]
    if mirror:
        lines.append("mirror: " + ", ".join(f"{dep} {share}%" for dep, share in mirror.items()))
    for dep, detail in deployments.items():
        lines.append(f"  deployment {dep}: {detail}")
    version = tags.get(f"{RECORD_PREFIX}version")
    if version:
        lines.append(
            f"recorded: {tags.get(f'{RECORD_PREFIX}model')} v{version} on "
            f"{tags.get(f'{RECORD_PREFIX}deployment')} at {tags.get(f'{RECORD_PREFIX}at')}"
            f" (digest {tags.get(f'{RECORD_PREFIX}digest') or '-'}); "
            f"rollback target: v{tags.get(f'{PREVIOUS_PREFIX}version') or '-'}"
        )
    journal = journal_from_tags(tags)
    if journal is not None:
        state = (
            "UNFINISHED (the next deploy resumes or aborts it)"
            if needs_attention(journal)
            else "finished"
        )
        lines.append(f"last rollout {state}: {journal.describe()}")
    return lines


def endpoint_lines(client: Any, settings: Settings, environment: str) -> list[str]:
    """What `azure status --endpoint` prints, read from the workspace."""
    from . import endpoints

    names = endpoints.endpoint_names(settings, environment)
    endpoint = client.online_endpoints.get(names.online)
    deployments = {
        d.name: f"{d.model} ({d.provisioning_state})"
        for d in client.online_deployments.list(names.online)
    }
    return describe_endpoint(
        names.online,
        endpoint.traffic or {},
        endpoint.mirror_traffic or {},
        deployments,
        endpoint.tags or {},
    )
