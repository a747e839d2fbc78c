"""Blue/green rollout of one exact model version: a small pure state machine and its runner.

Functional core, imperative shell. `next_operation(state)` says what to do next and
`advance(state, error)` what follows from the result; neither touches Azure. `run_rollout`
executes the operations through the narrow `EndpointOperations` protocol (Azure's is in
`endpoint_ops.py`, tests use an in-memory one that can fail on any call), saves the state after
every transition (the journal, so an interrupted rollout can be resumed or aborted by the next
`deploy`) and logs one line per transition.

The traffic map only ever moves between two valid maps: every `SetTraffic` sums to 100 once a
deployment serves, the previous deployment keeps serving until the new one passed its smoke
test and every health check, and any failure puts all traffic back on it and deletes the new
one. The deployment record (and the champion/serving tags) change in the last step only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Protocol

logger = logging.getLogger(__name__)

DEPLOYMENT_NAMES = ("blue", "green")


class Phase(StrEnum):
    CREATE = "create"
    SMOKE_TEST = "smoke_test"
    AUTOSCALE = "autoscale"
    MIRROR = "mirror"  # step 0: mirror on, step 1: health check while mirrored
    SHIFT = "shift"  # traffic step `step`: set it, then (substep 1) check health
    DELETE_OLD = "delete_old"
    RECORD = "record"
    DONE = "done"
    ROLLBACK = "rollback"  # step 0: traffic back to the old deployment, step 1: delete the new
    ROLLED_BACK = "rolled_back"
    STUCK = "stuck"  # a rollback call failed: traffic is still a healthy map; see the error


TERMINAL = frozenset({Phase.DONE, Phase.ROLLED_BACK, Phase.STUCK})


# --- operations: what the shell is asked to do ------------------------------------------------


@dataclass(frozen=True)
class CreateDeployment:
    name: str
    version: str


@dataclass(frozen=True)
class SmokeTest:
    name: str


@dataclass(frozen=True)
class ApplyAutoscale:
    name: str


@dataclass(frozen=True)
class SetTraffic:
    traffic: Mapping[str, int]
    mirror: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckHealth:
    name: str
    minutes: float = 0.0  # observe for this long first (mirroring)


@dataclass(frozen=True)
class DeleteDeployment:
    name: str


@dataclass(frozen=True)
class RecordDeployment:
    deployment: str


Operation = (
    CreateDeployment
    | SmokeTest
    | ApplyAutoscale
    | SetTraffic
    | CheckHealth
    | DeleteDeployment
    | RecordDeployment
)


class EndpointOperations(Protocol):
    """The Azure calls a rollout needs, and nothing else. Every call raises on failure."""

    def create_deployment(self, name: str, version: str, digest: str) -> None: ...
    def smoke_test(self, name: str) -> None: ...
    def apply_autoscale(self, name: str) -> None: ...
    def set_traffic(self, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None: ...
    def check_health(self, name: str, minutes: float) -> None: ...
    def delete_deployment(self, name: str) -> None: ...
    def record_deployment(self, state: RolloutState) -> None: ...
    def save_state(self, state: RolloutState) -> None: ...
    def load_state(self) -> RolloutState | None: ...
    def live_deployment(self) -> str | None: ...


# --- state -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RolloutState:
    """Everything the next step depends on; saved after every transition."""

    endpoint: str
    environment: str
    model_name: str
    version: str
    digest: str
    new: str  # the deployment being rolled out
    old: str | None  # the deployment serving now (None on an endpoint's first rollout)
    traffic_steps: tuple[int, ...] = (10, 50, 100)
    mirror_percent: int = 0
    mirror_minutes: float = 0.0
    autoscale: bool = True
    phase: Phase = Phase.CREATE
    step: int = 0
    substep: int = 0
    error: str | None = None
    failed_in: str | None = None  # the phase that failed, when rolling back

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.phase == Phase.DONE

    def describe(self) -> str:
        where = self.phase.value
        if self.phase == Phase.SHIFT:
            where += f" {self.traffic_steps[self.step]}%" + (" (health)" if self.substep else "")
        elif self.phase in (Phase.MIRROR, Phase.ROLLBACK):
            where += f" ({self.substep + 1}/2)"
        detail = f": {self.error}" if self.error else ""
        return (
            f"{self.endpoint} {self.model_name} v{self.version} -> {self.new}"
            f" (serving: {self.old or 'none'}) [{where}]{detail}"
        )

    def to_record(self) -> dict[str, str]:
        """Flat strings (fit for resource tags and JSON)."""
        values = asdict(self)
        values["traffic_steps"] = ",".join(str(step) for step in self.traffic_steps)
        return {key: "" if value is None else str(value) for key, value in values.items()}

    @classmethod
    def from_record(cls, record: Mapping[str, str]) -> RolloutState:
        def text(key: str) -> str | None:
            return record.get(key) or None

        return cls(
            endpoint=record["endpoint"],
            environment=record["environment"],
            model_name=record["model_name"],
            version=record["version"],
            digest=record.get("digest", ""),
            new=record["new"],
            old=text("old"),
            traffic_steps=tuple(int(s) for s in record["traffic_steps"].split(",")),
            mirror_percent=int(record.get("mirror_percent") or 0),
            mirror_minutes=float(record.get("mirror_minutes") or 0),
            autoscale=record.get("autoscale", "True") == "True",
            phase=Phase(record["phase"]),
            step=int(record.get("step") or 0),
            substep=int(record.get("substep") or 0),
            error=text("error"),
            failed_in=text("failed_in"),
        )


def other_deployment(live: str | None) -> str:
    """Alternate between two names, so the new deployment never collides with the live one."""
    return DEPLOYMENT_NAMES[1] if live == DEPLOYMENT_NAMES[0] else DEPLOYMENT_NAMES[0]


def start(
    *,
    endpoint: str,
    environment: str,
    model_name: str,
    version: str,
    digest: str,
    live: str | None,
    traffic_steps: tuple[int, ...] = (10, 50, 100),
    mirror_percent: int = 0,
    mirror_minutes: float = 0.0,
    autoscale: bool = True,
) -> RolloutState:
    if not traffic_steps or traffic_steps[-1] != 100:
        raise ValueError(f"traffic steps {traffic_steps} must end at 100")
    if not 0 <= mirror_percent <= 50:
        raise ValueError(f"mirror_percent {mirror_percent} must be within 0-50")
    return RolloutState(
        endpoint=endpoint,
        environment=environment,
        model_name=model_name,
        version=version,
        digest=digest,
        new=other_deployment(live),
        old=live,
        traffic_steps=tuple(traffic_steps),
        mirror_percent=mirror_percent,
        mirror_minutes=mirror_minutes,
        autoscale=autoscale,
    )


# --- the functional core ---------------------------------------------------------------------


def next_operation(state: RolloutState) -> Operation | None:
    """The one operation the current state calls for; None when the rollout is over."""
    new, old = state.new, state.old
    match state.phase:
        case Phase.CREATE:
            return CreateDeployment(new, state.version)
        case Phase.SMOKE_TEST:
            return SmokeTest(new)
        case Phase.AUTOSCALE:
            return ApplyAutoscale(new)
        case Phase.MIRROR if state.substep == 0:
            return SetTraffic(_split(old, new, 0), {new: state.mirror_percent})
        case Phase.MIRROR:
            return CheckHealth(new, state.mirror_minutes)
        case Phase.SHIFT if state.substep == 0:
            return SetTraffic(_split(old, new, state.traffic_steps[state.step]))
        case Phase.SHIFT:
            return CheckHealth(new)
        case Phase.DELETE_OLD:
            return DeleteDeployment(old) if old else None
        case Phase.RECORD:
            return RecordDeployment(new)
        case Phase.ROLLBACK if state.substep == 0:
            return SetTraffic({old: 100}) if old else SetTraffic({})
        case Phase.ROLLBACK:
            return DeleteDeployment(new)
    return None


def _split(old: str | None, new: str, percent: int) -> dict[str, int]:
    if old is None:  # the first rollout: nothing else serves, the new deployment takes all
        return {new: 100}
    return {old: 100 - percent, new: percent}


def advance(state: RolloutState, error: str | None = None) -> RolloutState:
    """The state after the current operation succeeded (`error` None) or failed."""
    if error is not None:
        return _after_failure(state, error)
    phase, step, substep = state.phase, state.step, state.substep
    match phase:
        case Phase.CREATE:
            return replace(state, phase=Phase.SMOKE_TEST)
        case Phase.SMOKE_TEST:
            return (
                replace(state, phase=Phase.AUTOSCALE)
                if state.autoscale
                else _after_autoscale(state)
            )
        case Phase.AUTOSCALE:
            return _after_autoscale(state)
        case Phase.MIRROR if substep == 0:
            return replace(state, substep=1)
        case Phase.MIRROR:
            return replace(state, phase=Phase.SHIFT, step=0, substep=0)
        case Phase.SHIFT if substep == 0:
            return replace(state, substep=1)
        case Phase.SHIFT if step + 1 < len(state.traffic_steps):
            return replace(state, step=step + 1, substep=0)
        case Phase.SHIFT:
            return replace(state, phase=Phase.DELETE_OLD, step=0, substep=0)
        case Phase.DELETE_OLD:
            return replace(state, phase=Phase.RECORD)
        case Phase.RECORD:
            return replace(state, phase=Phase.DONE, error=None)
        case Phase.ROLLBACK if substep == 0:
            return replace(state, substep=1)
        case Phase.ROLLBACK:
            return replace(state, phase=Phase.ROLLED_BACK, substep=0)
    raise ValueError(f"no transition from a finished rollout ({state.phase})")


def _after_autoscale(state: RolloutState) -> RolloutState:
    if state.mirror_percent and state.old:
        return replace(state, phase=Phase.MIRROR, substep=0)
    return replace(state, phase=Phase.SHIFT, step=0, substep=0)


def _after_failure(state: RolloutState, error: str) -> RolloutState:
    """Any failure before the record puts all traffic back on the old deployment and deletes
    the new one. A failed record keeps its phase: the old deployment is gone by then, so the
    only way forward is to retry the record (the next `deploy` resumes it)."""
    if state.phase == Phase.RECORD:
        return replace(state, error=error)
    if state.phase == Phase.ROLLBACK:
        return replace(
            state,
            phase=Phase.STUCK,
            error=f"rollback failed ({error}) after: {state.error}",
        )
    return replace(
        state,
        phase=Phase.ROLLBACK,
        step=0,
        substep=0,
        error=error,
        failed_in=state.phase.value,
    )


def abort(state: RolloutState, reason: str) -> RolloutState:
    """Turn an unfinished (or stuck) rollout into its rollback: used for an interrupted rollout
    that the next `deploy` does not resume, and by `azure rollback`. From `delete_old` on, the
    old deployment may be gone: such a rollout is only ever finished, never aborted."""
    if state.phase == Phase.STUCK:
        return replace(state, phase=Phase.ROLLBACK, step=0, substep=0)  # retry the rollback
    if state.finished or state.phase in (Phase.ROLLBACK, Phase.DELETE_OLD, Phase.RECORD):
        return state
    return replace(
        state, phase=Phase.ROLLBACK, step=0, substep=0, error=reason, failed_in=state.phase.value
    )


def needs_attention(state: RolloutState | None) -> bool:
    """An unfinished or stuck rollout: the next `deploy` or `rollback` deals with it first."""
    return state is not None and (not state.finished or state.phase == Phase.STUCK)


# --- the imperative shell --------------------------------------------------------------------


def execute(ops: EndpointOperations, state: RolloutState, operation: Operation) -> None:
    match operation:
        case CreateDeployment(name, version):
            ops.create_deployment(name, version, state.digest)
        case SmokeTest(name):
            ops.smoke_test(name)
        case ApplyAutoscale(name):
            ops.apply_autoscale(name)
        case SetTraffic(traffic, mirror):
            ops.set_traffic(dict(traffic), dict(mirror))
        case CheckHealth(name, minutes):
            ops.check_health(name, minutes)
        case DeleteDeployment(name):
            ops.delete_deployment(name)
        case RecordDeployment():
            ops.record_deployment(state)


def run_rollout(
    ops: EndpointOperations,
    state: RolloutState,
    *,
    log: Callable[[str], None] = logger.info,
    max_operations: int = 100,
) -> RolloutState:
    """Drive `state` to a finished phase (or to a failed record), saving it after each step.

    Exceptions from an operation are failures of that step, never crashes of the rollout:
    the machine decides what happens next (usually the rollback). A journal save that is
    refused before the old deployment is gone is a failure too (an unjournaled step could not
    be resumed safely); from then on, and during a rollback, it is logged and the rollout goes
    on: losing the journal must never cost the rollback.
    """
    ops.save_state(state)  # nothing has happened yet: a refusal here may simply propagate
    log(f"rollout {state.describe()}")
    for _ in range(max_operations):
        operation = next_operation(state)
        if operation is None:
            if state.finished:
                return state
            state = _saved(ops, advance(state), log)  # nothing to do (no old deployment)
            continue
        try:
            execute(ops, state, operation)
        except Exception as error:
            state = _saved(ops, advance(state, f"{type(operation).__name__} failed: {error}"), log)
            log(f"rollout {state.describe()}")
            if state.phase == Phase.RECORD:
                return state  # resumable: the next deploy retries the record
            continue
        state = _saved(ops, advance(state), log)
        log(f"rollout {state.describe()}")
        if state.finished:
            return state
    raise RuntimeError(f"rollout did not finish within {max_operations} operations")


# Phases in which the old deployment still serves or exists: a step that cannot be journaled
# is rolled back rather than taken.
_JOURNAL_REQUIRED = frozenset(
    {Phase.CREATE, Phase.SMOKE_TEST, Phase.AUTOSCALE, Phase.MIRROR, Phase.SHIFT, Phase.DELETE_OLD}
)


def _saved(
    ops: EndpointOperations, state: RolloutState, log: Callable[[str], None]
) -> RolloutState:
    """Save `state`; if the save is refused, the state to go on with (see `run_rollout`)."""
    try:
        ops.save_state(state)
        return state
    except Exception as error:
        problem = f"saving the rollout journal failed ({type(error).__name__}: {error})"
        log(f"rollout {state.describe()}: {problem}")
        if state.phase not in _JOURNAL_REQUIRED:
            return state
        failed = advance(state, problem)
        try:
            ops.save_state(failed)
        except Exception as again:  # the rollback goes on without its journal
            log(f"rollout {failed.describe()}: the journal is still refused ({again})")
        return failed


def deploy(
    ops: EndpointOperations,
    request: Callable[[str | None], RolloutState],
    version: str,
    *,
    log: Callable[[str], None] = logger.info,
) -> RolloutState:
    """Roll out `version`: first finish what an interrupted rollout left (resume it when it was
    for the same version or is past the point of no return, abort it otherwise), then start a
    new rollout from whatever deployment serves now. `request(live)` builds the new state."""
    journal = ops.load_state()
    if journal is not None and needs_attention(journal):
        resumable = journal.phase in (Phase.DELETE_OLD, Phase.RECORD, Phase.ROLLBACK)
        if (journal.version == version and journal.phase != Phase.STUCK) or resumable:
            log(f"resuming the interrupted rollout of v{journal.version}")
            journal = run_rollout(ops, journal, log=log)
        else:
            log(f"aborting the interrupted rollout of v{journal.version}")
            journal = run_rollout(ops, abort(journal, f"superseded by v{version}"), log=log)
        if not journal.finished or journal.phase == Phase.STUCK:
            return journal  # needs attention first; nothing new starts on top of it
    live = ops.live_deployment()
    serving = journal is not None and journal.succeeded and journal.new == live
    if serving and journal.version == version:
        log(f"v{version} already serves 100% on {live}: nothing to roll out")
        return journal
    return run_rollout(ops, request(live), log=log)
