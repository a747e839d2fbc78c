"""The blue/green state machine against an in-memory endpoint that can fail on any call.

After every operation the fake checks the invariant: once a deployment serves, the traffic map
sums to 100 and only existing deployments that passed their smoke test (or served before the
rollout) take traffic. The deployment record changes only when a rollout succeeds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest
from azure_fixtures import ArmRefused, arm_check_tags

from {{ cookiecutter.package_name }}.azure import endpoint_ops, rollout
from {{ cookiecutter.package_name }}.azure.rollout import Phase, RolloutState


class Killed(BaseException):
    """The process dies here (not an Exception: nothing in the rollout may catch it)."""


@dataclass
class FakeEndpoint:
    """An endpoint with deployments, a traffic map, a journal and a deployment record."""

    deployments: dict[str, str] = field(default_factory=dict)  # name -> model version
    traffic: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)
    record: dict[str, str] = field(default_factory=dict)
    bad_versions: set[str] = field(default_factory=set)  # smoke tests of these fail
    fail: Callable[[str, int], BaseException | None] = lambda call, index: None
    calls: list[str] = field(default_factory=list)
    traffic_history: list[dict[str, int]] = field(default_factory=list)
    journal: dict[str, str] | None = None  # endpoint tags, as Azure stores them
    refuse_save: Callable[[RolloutState], bool] = lambda state: False
    verified: set[str] = field(default_factory=set)  # smoke-tested or serving before

    def __post_init__(self) -> None:
        self.verified = {name for name, share in self.traffic.items() if share}

    def _call(self, name: str) -> None:
        index = len(self.calls)
        self.calls.append(name)
        error = self.fail(name, index)
        if error is not None:
            raise error

    def check_invariant(self) -> None:
        served = [name for name, share in self.traffic.items() if share]
        if not served and not self.traffic_history:
            return  # nothing has ever served (the endpoint's first rollout, before traffic)
        assert sum(self.traffic.values()) == 100, self.traffic
        assert set(self.traffic) <= set(self.deployments), (self.traffic, self.deployments)
        assert all(name in self.verified for name in served), (self.traffic, self.verified)
        for name in self.mirror:
            assert self.traffic.get(name, 0) == 0 and self.mirror[name] <= 50

    # --- EndpointOperations ---
    def create_deployment(self, name: str, version: str, digest: str) -> None:
        self._call("create_deployment")
        assert digest == f"sha-{version}", "deploy the digest the rollout resolved, nothing else"
        assert self.traffic.get(name, 0) == 0, "never overwrite a serving deployment"
        self.deployments[name] = version
        self.verified.discard(name)

    def smoke_test(self, name: str) -> None:
        self._call("smoke_test")
        if self.deployments[name] in self.bad_versions:
            raise RuntimeError(f"{name} answered 500 to a valid request")
        self.verified.add(name)

    def apply_autoscale(self, name: str) -> None:
        self._call("apply_autoscale")
        assert name in self.deployments

    def set_traffic(self, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
        self._call("set_traffic")
        self.traffic = dict(traffic)
        self.mirror = dict(mirror)
        self.traffic_history.append(dict(traffic))
        self.check_invariant()

    def check_health(self, name: str, minutes: float) -> None:
        self._call("check_health")

    def delete_deployment(self, name: str) -> None:
        self._call("delete_deployment")
        assert self.traffic.get(name, 0) == 0, "never delete a serving deployment"
        self.deployments.pop(name, None)
        self.traffic.pop(name, None)
        self.check_invariant()

    def record_deployment(self, state: RolloutState) -> None:
        self._call("record_deployment")
        assert self.traffic == {state.new: 100}, "record only what serves"
        self.record = {"version": state.version, "deployment": state.new, "digest": state.digest}

    def save_state(self, state: RolloutState) -> None:
        tags = endpoint_ops.journal_tags(state)  # the tags the Azure shell writes
        arm_check_tags(tags)  # ARM refuses what breaks its limits
        if self.refuse_save(state):
            raise ArmRefused("the endpoint update was refused")
        self.journal = tags

    def load_state(self) -> RolloutState | None:
        return None if self.journal is None else endpoint_ops.journal_from_tags(self.journal)

    def live_deployment(self) -> str | None:
        serving = [name for name, share in self.traffic.items() if share == 100]
        return serving[0] if serving else None


def serving_v1() -> FakeEndpoint:
    return FakeEndpoint(
        deployments={"blue": "1"},
        traffic={"blue": 100},
        record={"version": "1", "deployment": "blue", "digest": "sha-1"},
    )


def new_rollout(live: str | None, version: str = "2", **options) -> RolloutState:
    return rollout.start(
        endpoint="ep-demo-dev-0a1b2c",
        environment="dev",
        model_name="demo",
        version=version,
        digest=f"sha-{version}",
        live=live,
        **options,
    )


def fail_on(call: str, occurrence: int = 1) -> Callable[[str, int], BaseException | None]:
    seen = {"count": 0}

    def fail(name: str, index: int) -> BaseException | None:
        if name != call:
            return None
        seen["count"] += 1
        return RuntimeError(f"injected {call} failure") if seen["count"] == occurrence else None

    return fail


def run(endpoint: FakeEndpoint, state: RolloutState) -> RolloutState:
    lines: list[str] = []
    final = rollout.run_rollout(endpoint, state, log=lines.append)
    assert lines and all("\n" not in line for line in lines)  # one line per transition
    return final


HEALTHY_CALLS = [
    "create_deployment",
    "smoke_test",
    "apply_autoscale",
    "set_traffic",
    "check_health",
    "set_traffic",
    "check_health",
    "set_traffic",
    "check_health",
    "delete_deployment",
    "record_deployment",
]


def test_healthy_rollout_shifts_in_steps_then_deletes_blue_and_records() -> None:
    endpoint = serving_v1()
    final = run(endpoint, new_rollout("blue"))
    assert final.phase == Phase.DONE and final.error is None
    assert endpoint.calls == HEALTHY_CALLS
    assert endpoint.traffic_history == [
        {"blue": 90, "green": 10},
        {"blue": 50, "green": 50},
        {"blue": 0, "green": 100},
    ]
    assert endpoint.traffic == {"green": 100} and endpoint.deployments == {"green": "2"}
    assert endpoint.record == {"version": "2", "deployment": "green", "digest": "sha-2"}
    assert endpoint.load_state() == final


def test_first_rollout_on_an_empty_endpoint_goes_straight_to_100() -> None:
    endpoint = FakeEndpoint()
    final = run(endpoint, new_rollout(None))
    assert final.phase == Phase.DONE
    assert endpoint.traffic_history == [{"blue": 100}] * 3
    assert endpoint.deployments == {"blue": "2"} and endpoint.record["deployment"] == "blue"


def test_mirroring_copies_traffic_to_green_before_any_shift() -> None:
    endpoint = serving_v1()
    final = run(endpoint, new_rollout("blue", mirror_percent=20, mirror_minutes=0))
    assert final.phase == Phase.DONE
    assert endpoint.traffic_history[0] == {"blue": 100, "green": 0}
    assert endpoint.calls[3:5] == ["set_traffic", "check_health"]
    assert endpoint.mirror == {}


def test_smoke_test_failure_never_gives_green_traffic_and_deletes_it() -> None:
    endpoint = serving_v1()
    endpoint.bad_versions = {"2"}
    final = run(endpoint, new_rollout("blue"))
    assert final.phase == Phase.ROLLED_BACK and final.failed_in == "smoke_test"
    assert "500" in final.error
    assert endpoint.traffic_history == [{"blue": 100}]
    assert endpoint.traffic == {"blue": 100} and endpoint.deployments == {"blue": "1"}
    assert endpoint.record["version"] == "1"


@pytest.mark.parametrize("step", [1, 2, 3])
@pytest.mark.parametrize("call", ["set_traffic", "check_health"])
def test_failure_at_each_traffic_step_returns_all_traffic_to_blue(call: str, step: int) -> None:
    endpoint = serving_v1()
    endpoint.fail = fail_on(call, step)
    final = run(endpoint, new_rollout("blue"))
    assert final.phase == Phase.ROLLED_BACK and final.failed_in == "shift"
    assert endpoint.traffic == {"blue": 100} and endpoint.deployments == {"blue": "1"}
    assert endpoint.traffic_history[-1] == {"blue": 100}
    assert endpoint.record["version"] == "1"
    assert endpoint.calls[-1] == "delete_deployment"


def test_failure_deleting_blue_rolls_back_to_blue() -> None:
    endpoint = serving_v1()
    endpoint.fail = fail_on("delete_deployment")
    final = run(endpoint, new_rollout("blue"))
    assert final.phase == Phase.ROLLED_BACK and final.failed_in == "delete_old"
    assert endpoint.traffic == {"blue": 100} and endpoint.deployments == {"blue": "1"}
    assert endpoint.record["version"] == "1"


def test_a_failing_rollback_is_stuck_on_a_healthy_map_and_says_why() -> None:
    endpoint = serving_v1()

    def fail(call: str, index: int) -> BaseException | None:
        first_shift_done = bool(endpoint.traffic_history)
        if call == "check_health" or (call == "set_traffic" and first_shift_done):
            return RuntimeError(f"injected {call} failure")
        return None

    endpoint.fail = fail
    final = run(endpoint, new_rollout("blue"))
    assert final.phase == Phase.STUCK
    assert "rollback failed" in final.error and "CheckHealth" in final.error
    assert endpoint.traffic == {"blue": 90, "green": 10}  # both passed their checks so far
    assert endpoint.record["version"] == "1"
    # The next deploy retries the rollback first, then rolls out what it was asked for.
    endpoint.fail = lambda call, i: None
    again = rollout.deploy(endpoint, lambda live: new_rollout(live, version="3"), "3")
    assert again.phase == Phase.DONE and again.version == "3"
    assert endpoint.deployments == {"green": "3"} and endpoint.record["version"] == "3"


def test_failure_on_any_call_keeps_the_invariant_and_the_record() -> None:
    """Every call of a healthy rollout, failed in turn."""
    for index in range(len(HEALTHY_CALLS)):
        endpoint = serving_v1()
        endpoint.fail = lambda call, i, index=index: (
            RuntimeError("injected") if i == index else None
        )
        final = run(endpoint, new_rollout("blue"))
        endpoint.check_invariant()
        if HEALTHY_CALLS[index] == "record_deployment":
            assert final.phase == Phase.RECORD and final.error, final
            assert endpoint.traffic == {"green": 100}
            assert endpoint.record["version"] == "1"
            resumed = run(endpoint, endpoint.load_state())  # the next deploy resumes it
            assert resumed.phase == Phase.DONE and endpoint.record["version"] == "2"
        else:
            assert final.phase == Phase.ROLLED_BACK, (index, final)
            assert endpoint.traffic == {"blue": 100} and endpoint.deployments == {"blue": "1"}
            assert endpoint.record["version"] == "1"


def killed_at(index: int) -> Callable[[str, int], BaseException | None]:
    return lambda call, i: Killed() if i == index else None


@pytest.mark.parametrize("kill_at", range(len(HEALTHY_CALLS)))
def test_interrupted_rollout_is_resumed_by_the_next_deploy_of_the_same_version(
    kill_at: int,
) -> None:
    endpoint = serving_v1()
    endpoint.fail = killed_at(kill_at)
    with pytest.raises(Killed):
        run(endpoint, new_rollout("blue"))
    endpoint.check_invariant()
    assert endpoint.record["version"] == "1"  # an interrupted rollout changes no record
    endpoint.fail = lambda call, i: None
    final = rollout.deploy(endpoint, lambda live: new_rollout(live), "2", log=print)
    assert final.phase == Phase.DONE and final.version == "2"
    assert endpoint.traffic == {"green": 100} and endpoint.deployments == {"green": "2"}
    assert endpoint.record["version"] == "2"


@pytest.mark.parametrize("kill_at", range(len(HEALTHY_CALLS) - 2))  # before the old is deleted
def test_interrupted_rollout_is_aborted_by_a_deploy_of_another_version(kill_at: int) -> None:
    endpoint = serving_v1()
    endpoint.fail = killed_at(kill_at)
    with pytest.raises(Killed):
        run(endpoint, new_rollout("blue"))
    endpoint.fail = lambda call, i: None
    final = rollout.deploy(endpoint, lambda live: new_rollout(live, version="3"), "3")
    assert final.phase == Phase.DONE and final.version == "3"
    assert endpoint.deployments == {"green": "3"} and endpoint.traffic == {"green": 100}
    assert endpoint.record["version"] == "3"
    assert "2" not in endpoint.deployments.values()


def test_abort_puts_everything_back_on_blue() -> None:
    endpoint = serving_v1()
    endpoint.fail = killed_at(HEALTHY_CALLS.index("check_health"))  # green serves 10%
    with pytest.raises(Killed):
        run(endpoint, new_rollout("blue"))
    assert endpoint.traffic == {"blue": 90, "green": 10}
    endpoint.fail = lambda call, i: None
    final = run(endpoint, rollout.abort(endpoint.load_state(), "operator abort"))
    assert final.phase == Phase.ROLLED_BACK and final.error == "operator abort"
    assert endpoint.traffic == {"blue": 100} and endpoint.deployments == {"blue": "1"}
    assert endpoint.record["version"] == "1"


def test_rollback_puts_the_previous_version_back_through_the_same_machine() -> None:
    endpoint = serving_v1()
    assert run(endpoint, new_rollout("blue")).phase == Phase.DONE
    previous = "1"  # what `azure rollback` reads from the deployment record
    final = rollout.deploy(endpoint, lambda live: new_rollout(live, version=previous), previous)
    assert final.phase == Phase.DONE
    assert endpoint.deployments == {"blue": "1"} and endpoint.traffic == {"blue": 100}
    assert endpoint.record == {"version": "1", "deployment": "blue", "digest": "sha-1"}
    assert endpoint.traffic_history[-3:] == [
        {"green": 90, "blue": 10},
        {"green": 50, "blue": 50},
        {"green": 0, "blue": 100},
    ]


def test_deploying_the_version_that_serves_changes_nothing() -> None:
    endpoint = serving_v1()
    assert rollout.deploy(endpoint, lambda live: new_rollout(live), "2").phase == Phase.DONE
    calls = list(endpoint.calls)
    again = rollout.deploy(endpoint, lambda live: new_rollout(live), "2")
    assert again.succeeded and endpoint.calls == calls  # no second rollout of v2
    endpoint.traffic = {"green": 100}
    endpoint.fail = fail_on("smoke_test")  # v3 fails: v2 keeps serving, v2 is still current
    assert rollout.deploy(endpoint, lambda live: new_rollout(live, "3"), "3").phase == (
        Phase.ROLLED_BACK
    )
    assert endpoint.deployments == {"green": "2"} and endpoint.record["version"] == "2"


def test_state_survives_the_journal_round_trip_in_every_phase() -> None:
    state = new_rollout("blue", mirror_percent=10, mirror_minutes=2.5)
    seen = set()
    while not state.finished:
        assert RolloutState.from_record(state.to_record()) == state
        assert all(len(value) <= 256 for value in state.to_record().values())  # tag limit
        seen.add(state.phase)
        state = rollout.advance(state)
    assert {Phase.CREATE, Phase.MIRROR, Phase.SHIFT, Phase.RECORD} <= seen


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="end at 100"):
        new_rollout("blue", traffic_steps=(10, 50))
    with pytest.raises(ValueError, match="0-50"):
        new_rollout("blue", mirror_percent=60)


def test_a_long_error_is_journaled_truncated_and_the_rollout_rolls_back() -> None:
    """A 2,000-character error (Azure's own messages can be that long) must not make the
    journal save fail: the tag is cut to ARM's 256 characters, the state keeps the full text."""
    endpoint = serving_v1()
    long_error = "quota exceeded: " + "x" * 2000
    endpoint.fail = lambda call, i: RuntimeError(long_error) if call == "check_health" else None
    final = run(endpoint, new_rollout("blue"))
    assert final.phase == Phase.ROLLED_BACK and long_error in final.error  # summary and logs
    assert endpoint.traffic == {"blue": 100} and endpoint.deployments == {"blue": "1"}
    assert endpoint.record["version"] == "1"
    journaled = endpoint.journal["rollout.error"]
    assert len(journaled) == 256 and "more chars" in journaled
    assert journaled.startswith("CheckHealth failed: quota exceeded: xxx")
    assert endpoint.load_state().phase == Phase.ROLLED_BACK


def test_a_refused_journal_save_in_the_failure_handler_still_rolls_back() -> None:
    endpoint = serving_v1()
    endpoint.fail = fail_on("check_health", 2)  # green serves 50% when it fails
    endpoint.refuse_save = lambda state: state.error is not None
    lines: list[str] = []
    final = rollout.run_rollout(endpoint, new_rollout("blue"), log=lines.append)
    assert final.phase == Phase.ROLLED_BACK
    assert endpoint.traffic == {"blue": 100} and endpoint.deployments == {"blue": "1"}
    assert endpoint.record["version"] == "1"
    assert any("saving the rollout journal failed" in line for line in lines)


def test_a_refused_journal_save_while_shifting_rolls_back_instead_of_going_on() -> None:
    endpoint = serving_v1()
    endpoint.refuse_save = lambda state: state.phase == Phase.SHIFT and state.step == 1
    final = run(endpoint, new_rollout("blue"))
    assert final.phase == Phase.ROLLED_BACK and "journal" in final.error
    assert endpoint.traffic == {"blue": 100} and endpoint.deployments == {"blue": "1"}
    assert endpoint.record["version"] == "1"
