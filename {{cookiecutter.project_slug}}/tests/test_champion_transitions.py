"""The champion transition under faults, races and mismatched inputs, on real MLflow stores.

Faults are injected at the MLflow client boundary: a real SQLite store whose `MlflowClient`
fails on one chosen call (the n-th call of a method, once) while one chosen step runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import mlflow
import pytest
import yaml
from conftest import cli, copy_store, make_project
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

from {{ cookiecutter.package_name }}.config import Settings, load_settings
from {{ cookiecutter.package_name }}.deployments import read_deployment
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.pipeline import BasePipeline, RunContext
from {{ cookiecutter.package_name }}.registry import (
    CHAMPION_ALIAS,
    DIGEST_TAG,
    PRODUCTION_TAG,
    get_champion_version,
    list_versions,
)
from {{ cookiecutter.package_name }}.serving.local import resolve_model_dir
from {{ cookiecutter.package_name }}.tracking import configure_tracking

pytestmark = pytest.mark.slow


def settings_for(project: Path, **overrides) -> Settings:
    return load_settings(project / "config" / "pipeline.yaml", overrides)


def registry_state(settings: Settings) -> dict:
    """Everything the invariant is about: champion, production tags, deployment record."""
    configure_tracking(settings)
    client = MlflowClient()
    champion = get_champion_version(client, settings.model_name)
    return {
        "champion": None if champion is None else str(champion.version),
        "champion_tags": None if champion is None else dict(champion.tags),
        "production": sorted(
            str(v.version)
            for v in list_versions(client, settings.model_name)
            if v.tags.get(PRODUCTION_TAG) == "true"
        ),
        "deployment": read_deployment(settings, "local"),
    }


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> Path:
    """A project whose champion v1 (a weak 'dummy' model) is deployed, and the prepared,
    trained and evaluated folders of a better challenger compared with it."""
    with pytest.MonkeyPatch.context() as patch:
        # mlflow.set_tracking_uri in earlier tests exports MLFLOW_TRACKING_URI, and the autouse
        # fixture that clears it runs after module fixtures: clear it here too.
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        return _baseline(tmp_path_factory, empty_store)


def _baseline(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> Path:
    project = make_project(tmp_path_factory.mktemp("baseline"), empty_store)
    BasePipeline(settings_for(project, **{"model.family": "dummy"})).run()
    settings = settings_for(project, **{"model.family": "logistic_regression"})
    pipeline = BasePipeline(settings)
    configure_tracking(settings)
    with mlflow.start_run() as run:
        context = RunContext(run.info.run_id, project / "challenger")
        context.prepared = pipeline.prepare_data(context)
        context.trained = pipeline.train(context)
        context.evaluation = pipeline.evaluate(context)
    assert context.evaluation.decision.promote, context.evaluation.decision.reason
    return project


def copy_project(baseline: Path, tmp_path: Path) -> Path:
    """A private copy of the baseline's store and folders (artifacts stay shared, read-only)."""
    target = tmp_path / "project"
    shutil.copytree(baseline, target, ignore=shutil.ignore_patterns("serving", "locks"))
    return target


def inject_fault(monkeypatch: pytest.MonkeyPatch, method: str, nth: int) -> None:
    """From now on the n-th call of MlflowClient.<method> fails once, like a store outage."""
    original = getattr(MlflowClient, method)
    calls = {"count": 0}

    def failing(self, *args, **kwargs):
        calls["count"] += 1
        if calls["count"] == nth:
            raise MlflowException(f"injected outage in {method}", error_code=INTERNAL_ERROR)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, method, failing)


def pipeline_failing_at(step: str, method: str, nth: int, monkeypatch) -> type[BasePipeline]:
    """A pipeline class that arms the fault when `step` starts."""
    base_step = getattr(BasePipeline, step)

    def armed(self, context):
        inject_fault(monkeypatch, method, nth)
        return base_step(self, context)

    return type("FaultyPipeline", (BasePipeline,), {step: armed})


def run_steps(project: Path, pipeline_class: type[BasePipeline], names: list[str]) -> RunContext:
    """Run `names` on the baseline challenger's folders, in one MLflow run, as the runner does."""
    from {{ cookiecutter.package_name }}.steps.evaluate import Evaluation
    from {{ cookiecutter.package_name }}.steps.prepare import PreparedData
    from {{ cookiecutter.package_name }}.steps.train import TrainedModel

    settings = settings_for(project, **{"model.family": "logistic_regression"})
    pipeline = pipeline_class(settings)
    configure_tracking(settings)
    folder = project / "challenger"
    with mlflow.start_run() as run:
        context = RunContext(run.info.run_id, project / "attempt")
        context.prepared = PreparedData.read(folder / "prepared")
        context.trained = replace(
            TrainedModel.read(folder / "trained"), model_dir=folder / "trained" / "model"
        )
        context.evaluation = Evaluation.read(folder / "evaluated")
        for name in names:
            output = getattr(pipeline, name)(context)
            field = {"evaluate": "evaluation", "register": "registration", "deploy": "deployment"}
            setattr(context, field[name], output)
    return context


STEPS = ["evaluate", "register", "deploy"]
# (step, MlflowClient method, which call of it fails): every registry call of evaluate,
# register, the promotion and deploy, including the ones made half-way through promotion.
FAULTS = [
    ("evaluate", "get_model_version_by_alias", 1),
    ("evaluate", "get_model_version_download_uri", 1),
    ("register", "log_artifacts", 1),
    ("register", "create_registered_model", 1),
    ("register", "create_model_version", 1),
    ("deploy", "get_model_version_by_alias", 1),
    ("deploy", "get_registered_model", 1),  # reading the deployment record
    ("deploy", "set_model_version_tag", 1),  # the decision tags on the candidate
    ("deploy", "get_model_version", 1),  # the candidate's registered digest
    ("deploy", "get_model_version_download_uri", 1),  # the local rollout
    ("deploy", "set_registered_model_tag", 1),  # writing the deployment record
    ("deploy", "set_model_version_tag", 3),  # promotion: production tag on the candidate
    ("deploy", "set_registered_model_alias", 1),  # promotion: the commit point
    ("deploy", "delete_model_version_tag", 1),  # promotion: untag the previous champion
]


@pytest.mark.parametrize(
    ("step", "method", "nth"), FAULTS, ids=[f"{s}-{m}-{n}" for s, m, n in FAULTS]
)
def test_a_registry_failure_fails_the_run_and_changes_nothing(
    baseline: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    method: str,
    nth: int,
) -> None:
    project = copy_project(baseline, tmp_path)
    settings = settings_for(project)
    before = registry_state(settings)
    assert before["champion"] == "1" and before["deployment"].version == "1"
    names = STEPS[min(STEPS.index(step), 1) :]  # deploy needs a registration first
    with pytest.raises(PipelineError, match=method) as failure:
        run_steps(project, pipeline_failing_at(step, method, nth, monkeypatch), names)
    assert str(settings.tracking_uri) in str(failure.value)  # names the store
    monkeypatch.undo()  # the fault; this also undoes conftest's tracking-URI reset:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert registry_state(settings) == before
    monkeypatch.chdir(project)  # `serve` finds the project's settings from here
    assert resolve_model_dir().name.startswith("1-")  # serve still starts v1


def test_without_a_fault_the_same_steps_promote_and_deploy(
    baseline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the fault cases: their champion stayed because of the fault."""
    project = copy_project(baseline, tmp_path)
    context = run_steps(project, BasePipeline, ["register", "deploy"])
    assert context.deployment.promoted
    state = registry_state(settings_for(project))
    assert state["champion"] == "2" and state["production"] == ["2"]
    assert state["deployment"].version == "2"
    assert state["deployment"].digest == state["champion_tags"][DIGEST_TAG]
    client = MlflowClient()
    version = client.get_model_version(settings_for(project).model_name, "2")
    # The version links the run whose artifacts it was registered from (register's), so its
    # run_id and source agree; the training run is named in the lineage tag.
    assert version.run_id == version.tags["lineage.register_run_id"] != context.trained.run_id
    assert version.source.startswith(client.get_run(version.run_id).info.artifact_uri)
    assert version.tags["lineage.train_run_id"] == context.trained.run_id
    monkeypatch.chdir(project)
    served = resolve_model_dir()
    assert served.name == f"2-{state['deployment'].digest[:12]}"


def test_a_failed_promotion_restores_the_deployment_record(
    baseline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = copy_project(baseline, tmp_path)
    faulty = pipeline_failing_at("deploy", "set_registered_model_alias", 1, monkeypatch)
    with pytest.raises(PipelineError, match="rolled back") as failure:
        run_steps(project, faulty, ["register", "deploy"])
    assert "deployment record of 'local' was restored (v1)" in str(failure.value)
    monkeypatch.undo()  # the fault; this also undoes conftest's tracking-URI reset:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    candidate = MlflowClient().get_model_version(settings_for(project).model_name, "2")
    assert candidate.tags["decision.promoted"] == "False"
    assert PRODUCTION_TAG not in candidate.tags


RACING_PIPELINE = '''
import os
import time
from pathlib import Path

from {{ cookiecutter.package_name }}.pipeline import BasePipeline


class RacingPipeline(BasePipeline):
    """Both runs have evaluated against the same champion before either one deploys."""

    def deploy(self, context):
        barrier = Path(os.environ["RACE_BARRIER"])
        (barrier / context.run_id).touch()
        deadline = time.monotonic() + 300
        while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return super().deploy(context)
'''


def runs_succeed_together(project: Path, env: dict[str, str], *families: str) -> list[str]:
    """`run` once per family, all started at once as separate processes; each must exit 0.
    Returns their outputs."""
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "{{ cookiecutter.package_name }}", "run", "--model-family", family],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for family in families
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
    return outputs


def test_two_concurrent_runs_leave_exactly_one_champion(baseline: Path, tmp_path: Path) -> None:
    project = copy_project(baseline, tmp_path)
    (project / "racing.py").write_text(RACING_PIPELINE)
    config_path = project / "config" / "pipeline.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["pipeline"] = {"class": "racing.py:RacingPipeline"}
    config_path.write_text(yaml.safe_dump(config))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = dict(os.environ, RACE_BARRIER=str(barrier))
    env.pop("MLFLOW_TRACKING_URI", None)
    runs_succeed_together(project, env, "logistic_regression", "random_forest")
    state = registry_state(settings_for(project))
    assert state["production"] == [state["champion"]]  # exactly one, and it is the champion
    assert state["champion"] in {"2", "3"}
    assert state["deployment"].version == state["champion"]
    loser = {"2", "3"} - {state["champion"]}
    client = MlflowClient()
    name = settings_for(project).model_name
    lost = client.get_model_version(name, loser.pop())
    assert lost.tags["decision.candidate"] == "True"  # it did beat v1 ...
    assert lost.tags["decision.promoted"] == "False"  # ... and the reason is recorded:
    assert lost.tags["decision.final"].startswith("champion changed from v1 to v")
    alias = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    assert str(alias.version) == state["champion"]


def test_two_first_runs_on_a_missing_store_both_finish_with_one_champion(
    project: Path,
) -> None:
    """No store yet: both runs would migrate the same new SQLite file at once (alembic:
    "Online migration expected to match one row"); the store lock makes them take turns."""
    shutil.rmtree(project / ".mlflow")
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    outputs = runs_succeed_together(project, env, "logistic_regression", "dummy")
    state = registry_state(settings_for(project))
    assert state["champion"] in {"1", "2"}
    assert state["production"] == [state["champion"]]  # exactly one production version
    assert state["deployment"].version == state["champion"]
    # Either one run's gate saw the other's champion (and was compared with it), or both
    # reached the gate on "no champion yet" and the later one reports the champion changed.
    if all("no champion yet" in output for output in outputs):
        assert any("champion changed" in output for output in outputs), outputs


def test_a_model_swapped_after_evaluate_is_refused(project: Path, tmp_path: Path) -> None:
    """The step commands one by one, as Azure ML components run them, with the model folder
    replaced between evaluate and register."""
    config = str(project / "config" / "pipeline.yaml")
    out = tmp_path / "out"

    def step(*args: str) -> tuple[int, str]:
        return cli(*args, "--config", config)

    assert step("prepare", "--output", str(out / "prepared"))[0] == 0
    for family, folder in (("logistic_regression", "a"), ("dummy", "b")):
        code, output = step(
            "train",
            "--train-data",
            str(out / "prepared" / "train.parquet"),
            "--output",
            str(out / folder),
            "--model-family",
            family,
        )
        assert code == 0, output
    code, output = step(
        "evaluate",
        "--model",
        str(out / "a" / "model"),
        "--test-data",
        str(out / "prepared" / "test.parquet"),
        "--output",
        str(out / "evaluated"),
    )
    assert code == 0, output
    shutil.move(out / "a" / "model", out / "a-model")
    shutil.copytree(out / "b" / "model", out / "a" / "model")
    register = (
        "register",
        "--model",
        str(out / "a" / "model"),
        "--prepared",
        str(out / "prepared"),
        "--evaluation",
        str(out / "evaluated"),
        "--output",
        str(out / "registered"),
    )
    code, output = step(*register)
    assert code == 1
    assert "is not the model evaluate scored" in output
    assert "Traceback" not in output
    settings = settings_for(project)
    configure_tracking(settings)
    assert list_versions(MlflowClient(), settings.model_name) == []

    # The evaluated model itself registers; a registration record edited afterwards is
    # refused by deploy, and the untouched one is deployed and promoted.
    shutil.rmtree(out / "a" / "model")
    shutil.move(out / "a-model", out / "a" / "model")
    code, output = step(*register)
    assert code == 0, output
    record = out / "registered" / "registration.json"
    original = record.read_text()
    record.write_text(original.replace('"digest": "', '"digest": "0'))
    deploy = ("deploy", "--registration", str(out / "registered"), "--output", str(out / "d"))
    code, output = step(*deploy)
    assert code == 1
    assert "refusing to deploy" in output
    assert get_champion_version(MlflowClient(), settings.model_name) is None
    record.write_text(original)
    code, output = step(*deploy)
    assert code == 0, output
    assert "v1 promoted to champion" in output
    assert str(get_champion_version(MlflowClient(), settings.model_name).version) == "1"


MARKED_PIPELINE = '''
from {{ cookiecutter.package_name }}.pipeline import BasePipeline


class MarkedPipeline(BasePipeline):
    """Overrides one step; the rest, the tracking and the gate are inherited."""

    def prepare_data(self, context):
        prepared = super().prepare_data(context)
        (context.output_dir("prepare_data") / "custom-step.txt").write_text(context.run_id)
        return prepared
'''


def test_the_configured_pipeline_class_runs_in_run_and_in_each_step_command(
    project: Path, tmp_path: Path
) -> None:
    (project / "marked.py").write_text(MARKED_PIPELINE)
    config_path = project / "config" / "pipeline.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["pipeline"] = {"class": "marked.py:MarkedPipeline"}
    config["model"]["family"] = "dummy"
    config_path.write_text(yaml.safe_dump(config))

    code, output = cli(
        "prepare", "--output", str(tmp_path / "prepared"), "--config", str(config_path)
    )
    assert code == 0, output
    assert (tmp_path / "prepared" / "custom-step.txt").is_file()

    code, output = cli("run", "--config", str(config_path))
    assert code == 0, output
    (run_dir,) = (project / ".runs").iterdir()
    assert (run_dir / "prepared" / "custom-step.txt").read_text() == run_dir.name
    run = MlflowClient().get_run(run_dir.name)
    assert run.data.tags["pipeline"] == "MarkedPipeline"
    assert {d.dataset.name for d in run.inputs.dataset_inputs} == {"sample.csv", "train", "test"}


def test_a_class_that_is_not_a_pipeline_is_refused(project: Path) -> None:
    (project / "other.py").write_text("class NotAPipeline:\n    pass\n")
    config_path = project / "config" / "pipeline.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["pipeline"] = {"class": "other.py:NotAPipeline"}
    config_path.write_text(yaml.safe_dump(config))
    code, output = cli("prepare", "--output", str(project / "out"), "--config", str(config_path))
    assert code == 1
    assert "is not a subclass of" in output and "Traceback" not in output


def test_serving_cache_is_keyed_by_digest(
    project: Path, empty_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recreated store whose v1 is another model never serves the old v1's cached files."""
    monkeypatch.chdir(project)
    BasePipeline(settings_for(project, **{"model.family": "dummy"})).run()
    first = resolve_model_dir()
    shutil.rmtree(project / ".mlflow" / "artifacts")
    copy_store(empty_store, project)  # the store is recreated; the serving cache stays
    BasePipeline(settings_for(project, **{"model.family": "logistic_regression"})).run()
    second = resolve_model_dir()
    assert first.name.startswith("1-") and second.name.startswith("1-")
    assert first != second
    assert first.is_dir()  # the old files are still cached, under their own digest
