"""End to end: the local runner and the CLI on real MLflow (SQLite under tmp)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import cli, multiclass_frame, write_config
from mlflow import MlflowClient

from {{ cookiecutter.package_name }}.config import Settings, load_settings
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.lineage import file_sha256
from {{ cookiecutter.package_name }}.pipeline import BasePipeline, RunContext
from {{ cookiecutter.package_name }}.registry import (
    CHAMPION_ALIAS,
    get_champion_version,
    list_versions,
)
from {{ cookiecutter.package_name }}.tracking import configure_tracking

pytestmark = pytest.mark.slow

WORSE_MODEL = '''
from sklearn.dummy import DummyClassifier


def train_majority_class(X, y, *, seed, params):
    """Deliberately bad: always predicts the most frequent class."""
    return DummyClassifier(strategy="prior").fit(X, y)
'''


def settings_for(project: Path, **overrides) -> Settings:
    return load_settings(project / "config" / "pipeline.yaml", overrides)


def champion(settings: Settings):
    configure_tracking(settings)
    return get_champion_version(MlflowClient(), settings.model_name)


def configure_fairness(project: Path, metric: str | None = None, **fairness) -> None:
    config = yaml.safe_load((project / "config" / "pipeline.yaml").read_text())
    config["evaluation"]["fairness"].update(fairness)
    if metric is not None:
        config["evaluation"]["primary_metric"] = metric
    write_config(project, config)


def model_card(version) -> str:
    """The card the version's tag points to, read back through MLflow."""
    return Path(mlflow.artifacts.download_artifacts(version.tags["model_card"])).read_text()


def test_champion_story_first_run_promotes_worse_run_does_not(project: Path) -> None:
    config = str(project / "config" / "pipeline.yaml")
    # ROC AUC whatever this bake's metric: a prior-only model scores 0.5 in every group, which
    # the fairness verdict below relies on (its accuracy would follow each group's base rate).
    configure_fairness(project, "roc_auc", sensitive_features=["age", "contract"], gate=True)
    code, output = cli("run", "--config", config)
    assert code == 0, output
    assert "v1 promoted to champion" in output
    settings = settings_for(project)
    first = champion(settings)
    assert str(first.version) == "1"
    client = MlflowClient()
    assert first.tags["production"] == "true"
    assert first.tags["decision.reason"] == "no champion yet"
    for tag in (
        "lineage.git_commit",
        "lineage.data_sha256",
        "lineage.config_sha256",
        "lineage.version.scikit-learn",
        "lineage.version.mlflow",
    ):
        assert first.tags[tag], tag
    run = client.get_run(first.run_id)
    assert set(run.data.metrics) >= {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert run.data.metrics["roc_auc"] > 0.75  # the sample data has a real signal
    artifacts = {a.path for a in client.list_artifacts(first.run_id, "plots")}
    assert artifacts == {
        "plots/confusion_matrix.png",
        "plots/roc_curve.png",
        "plots/feature_importance.png",
        "plots/fairness.png",
    }
    metric = settings.evaluation.primary_metric
    for column in ("age", "contract"):
        for name in (metric, "selection_rate"):
            for kind in ("difference", "ratio"):
                assert f"fairness.{column}.{name}.{kind}" in run.data.metrics
    report = mlflow.artifacts.load_dict(f"runs:/{first.run_id}/evaluation/fairness.json")
    age = report["challenger"]["columns"]["age"]
    assert age["grouping"] == "4 quantile bands of the holdout values"
    assert sum(group["rows"] for group in age["groups"]) == 400
    assert age["difference"][metric] == pytest.approx(
        run.data.metrics[f"fairness.age.{metric}.difference"]
    )
    assert report["champion"] is None
    assert first.tags["decision.fairness"] == "not compared"
    # The model as served answered as the evaluated model on the whole holdout (steps/evaluate).
    assert run.data.tags["serving.path"] != "pipeline predict"
    assert run.data.metrics["serving.parity.rows"] == 400
    card = model_card(first)
    assert card.startswith(f"# Model card: {settings.model_name}\n")
    for section in ("Data", "Metrics (holdout)", "Fairness (holdout)", "Limitations", "Lineage"):
        assert f"\n## {section}\n" in card
    assert "### `age` (4 quantile bands of the holdout values)" in card
    assert f"- Registered from run `{first.run_id}`" in card
    assert f"sha256 `{first.tags['model.sha256']}`" in card
    champion_model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@{CHAMPION_ALIAS}")
    sample = pd.read_csv(project / "data" / "sample.csv").drop(columns=["churned"]).head(5)
    assert len(champion_model.predict(sample)) == 5

    (project / "worse.py").write_text(WORSE_MODEL)
    code, output = cli(
        "run", "--config", config, "--training-function", "worse.py:train_majority_class"
    )
    assert code == 0, output
    assert "v2 registered, not promoted" in output
    assert "still serving models:/" in output
    assert (
        output.strip()
        .splitlines()[-1]
        .startswith(f"Result: v2 registered, not promoted; champion v1 kept: challenger {metric}=")
    )
    assert str(champion(settings).version) == "1"
    second = client.get_model_version(settings.model_name, "2")
    # The champion's fairness comes from its predictions on the same rows; the prior-only
    # challenger scores alike in every group, so the fairness condition passes.
    assert second.tags["decision.fairness"] == "passed"
    second_run = client.get_run(second.run_id)
    assert f"champion.fairness.age.{metric}.difference" in second_run.data.metrics
    assert "- Compared against champion: v1 (sha256 `" in model_card(second)
    assert second.tags["decision.promoted"] == "False"
    assert second.tags["decision.champion_version"] == "1"
    assert float(second.tags["decision.challenger_score"]) < float(
        second.tags["decision.champion_score"]
    )
    assert "champion kept" in second.tags["decision.final"]
    assert "production" not in second.tags

    code, output = cli("models", "--config", config)
    assert code == 0, output
    assert "★" in output
    assert "Latest v2" in output and "champion kept" in output


def test_seeded_reruns_are_reproducible_and_safe(project: Path) -> None:
    settings = settings_for(project, **{"model.family": "logistic_regression"})
    first = BasePipeline(settings).run()
    second = BasePipeline(settings).run()
    assert first.evaluation.metrics == second.evaluation.metrics
    assert second.deployment.promoted is False  # a tie never replaces the champion
    assert second.deployment.version == first.registration.version
    assert str(champion(settings).version) == first.registration.version


def test_bring_your_own_multiclass_parquet(project: Path, tmp_path: Path) -> None:
    data = tmp_path / "grades.parquet"
    multiclass_frame().to_parquet(data)
    code, output = cli(
        "run",
        "--config",
        str(project / "config" / "pipeline.yaml"),
        "--data",
        str(data),
        "--target",
        "grade",
        "--model-name",
        "grades",
    )
    assert code == 0, output
    assert "3 classes of 'grade'" in output
    settings = settings_for(project, **{"tracking.model_name": "grades"})
    version = champion(settings)
    assert version is not None
    assert version.tags["data.target"] == "grade"
    model = mlflow.sklearn.load_model(f"models:/grades/{version.version}")
    assert set(model.classes_) == {"low", "mid", "high"}

    # The churn data under the same model name: the champion cannot score it, so it stays.
    code, output = cli(
        "run", "--config", str(project / "config" / "pipeline.yaml"), "--model-name", "grades"
    )
    assert code == 0, output
    assert "cannot be scored on this holdout" in output
    assert str(champion(settings).version) == str(version.version)


BAD_DATA = [
    ("absent.csv", None, "does not exist"),
    ("empty.csv", "", "is empty"),
    ("no_target.csv", "a,b\n1,2\n3,4\n", "Target column 'churned' is not in"),
    ("one_class.csv", "a,churned\n1,1\n2,1\n3,1\n", "single class"),
    ("null_column.csv", "a,gone,churned\n1,,0\n2,,1\n3,,0\n4,,1\n", "entirely empty"),
    ("garbage.parquet", "not parquet at all", "could not be read as .parquet"),
    ("table.xlsx", "a,churned\n1,0\n", "unsupported format"),
]


@pytest.mark.parametrize(("filename", "content", "message"), BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_data_gives_its_message_and_registers_nothing(
    shared_project: Path, filename: str, content: str | None, message: str
) -> None:
    data = shared_project / "data" / filename
    if content is not None:
        data.write_text(content)
    code, output = cli(
        "run",
        "--config",
        str(shared_project / "config" / "pipeline.yaml"),
        "--data",
        str(data),
        "--target",
        "churned",
    )
    assert code == 1
    assert message in output
    assert "Traceback" not in output
    settings = settings_for(shared_project)
    configure_tracking(settings)
    assert list_versions(MlflowClient(), settings.model_name) == []


class FailingEvaluation(BasePipeline):
    def evaluate(self, context: RunContext):
        raise RuntimeError("evaluation service is down")


class RecordingPipeline(BasePipeline):
    """A project-specific pipeline: extra feature in prepare, everything else inherited."""

    def prepare_data(self, context: RunContext):
        prepared = super().prepare_data(context)
        self.prepared_rows = prepared.n_train + prepared.n_test
        return prepared


def test_subclass_overrides_a_step_and_a_failed_step_never_changes_the_champion(
    project: Path,
) -> None:
    settings = settings_for(project, **{"model.family": "logistic_regression"})
    pipeline = RecordingPipeline(settings)
    context = pipeline.run()
    assert pipeline.prepared_rows == 2000
    assert context.deployment.promoted
    better = settings_for(
        project, **{"model.family": "gradient_boosting", "evaluation.min_improvement": 0.0}
    )
    with pytest.raises(RuntimeError, match="evaluation service is down"):
        FailingEvaluation(better).run()
    assert str(champion(settings).version) == context.registration.version
    assert len(list_versions(MlflowClient(), settings.model_name)) == 1
    failed = mlflow.search_runs(
        [configure_tracking(settings)], filter_string="attributes.status = 'FAILED'"
    )
    assert len(failed) == 1
    assert failed["tags.failed_step"][0] == "evaluate"
    assert failed["tags.error"][0] == "evaluation service is down"


def test_each_step_runs_alone_from_files(project: Path, tmp_path: Path) -> None:
    """How an Azure ML component chains them: outputs of one step are inputs of the next."""
    config = str(project / "config" / "pipeline.yaml")  # no sensitive features (conftest)
    steps = [
        ("prepare", "--output", str(tmp_path / "prepared")),
        (
            "train",
            "--train-data",
            str(tmp_path / "prepared" / "train.parquet"),
            "--output",
            str(tmp_path / "trained"),
            "--model-family",
            "logistic_regression",
        ),
        (
            "evaluate",
            "--model",
            str(tmp_path / "trained" / "model"),
            "--test-data",
            str(tmp_path / "prepared" / "test.parquet"),
            "--output",
            str(tmp_path / "evaluated"),
        ),
        (
            "register",
            "--model",
            str(tmp_path / "trained" / "model"),
            "--prepared",
            str(tmp_path / "prepared"),
            "--evaluation",
            str(tmp_path / "evaluated"),
            "--output",
            str(tmp_path / "registered"),
        ),
        (
            "deploy",
            "--registration",
            str(tmp_path / "registered"),
            "--output",
            str(tmp_path / "deployed"),
        ),
    ]
    for command, *options in steps:
        code, output = cli(command, *options, "--config", config)
        assert code == 0, f"{command}: {output}"
    assert (tmp_path / "evaluated" / "plots" / "roc_curve.png").is_file()
    assert "now serving models:/" in output
    version = champion(settings_for(project))
    assert str(version.version) == "1"
    # Each step ran in its own run, as on Azure ML: the version links the run whose artifacts
    # it was registered from (register's), and names the training run in a tag.
    run = MlflowClient().get_run(version.run_id)
    assert version.source.startswith(run.info.artifact_uri)
    assert version.tags["lineage.register_run_id"] == version.run_id
    assert version.tags["lineage.train_run_id"] != version.run_id
    # The trained folder carries its verified fast path (serving/stored.py) into the registry.
    registered = Path(mlflow.artifacts.download_artifacts(version.source))
    for name in ("fast_path.json", "fast_path.npz"):
        assert (tmp_path / "trained" / "model" / name).is_file()
        assert (registered / name).read_bytes() == (
            tmp_path / "trained" / "model" / name
        ).read_bytes()
    # The card is a run artifact next to the version's model folder, named by a version tag.
    assert version.tags["model_card"] == f"runs:/{version.run_id}/model_card.md"
    card = model_card(version)
    assert card == (tmp_path / "registered" / "model_card.md").read_text()
    assert "No sensitive features are configured" in card
    assert f"trained in run `{version.tags['lineage.train_run_id']}`" in card
    assert "- Compared against champion: none (no champion yet)" in card


def test_a_served_path_that_disagrees_on_the_holdout_registers_nothing(
    project: Path, tmp_path: Path
) -> None:
    """A stored fast path that loads (its digests match) but answers differently from the
    model, as a defect in it would, fails the evaluate step: nothing is registered."""
    config = str(project / "config" / "pipeline.yaml")
    prepared, trained = tmp_path / "prepared", tmp_path / "trained"
    code, output = cli("prepare", "--output", str(prepared), "--config", config)
    assert code == 0, output
    code, output = cli(
        "train",
        *("--train-data", str(prepared / "train.parquet"), "--output", str(trained)),
        *("--model-family", "logistic_regression", "--config", config),
    )
    assert code == 0, output
    model_dir = trained / "model"
    record = json.loads((model_dir / "fast_path.json").read_text())
    with np.load(model_dir / "fast_path.npz") as stored:
        arrays = {key: stored[key] for key in stored.files}
    coef = record["predictor"]["linear"]["coef"]
    arrays[coef] = -arrays[coef]  # every prediction flips
    np.savez(model_dir / "fast_path.npz", **arrays)
    record["arrays_sha256"] = file_sha256(model_dir / "fast_path.npz")
    (model_dir / "fast_path.json").write_text(json.dumps(record))
    code, output = cli(
        "evaluate",
        *("--model", str(model_dir), "--test-data", str(prepared / "test.parquet")),
        *("--output", str(tmp_path / "evaluated"), "--config", config),
    )
    assert code != 0
    assert "stored fast path does not answer as the model itself on 400 holdout rows" in output
    assert champion(settings_for(project)) is None


def test_azure_backend_submits_and_names_what_is_missing(
    shared_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    project = shared_project
    code, output = cli(
        "run", "--config", str(project / "config" / "pipeline.yaml"), "--backend", "azure"
    )
    assert code == 1
    assert "AZURE_SUBSCRIPTION_ID" in output
    with pytest.raises(PipelineError, match="azure submit"):
        BasePipeline(settings_for(project, backend="azure")).run()


def test_reruns_keep_one_experiment_in_the_project(project: Path) -> None:
    write_config(
        project,
        {
            "task": "classification",
            "data": {"target": "churned"},
            "evaluation": {"primary_metric": "roc_auc"},
            "model": {"family": "logistic_regression"},
            "automl": {"enabled": False},
        },
    )
    settings = settings_for(project)
    BasePipeline(settings).run()
    assert (project / ".mlflow" / "mlflow.db").is_file()
    assert any((project / ".mlflow" / "artifacts").iterdir())
    assert len(list((project / ".runs").iterdir())) == 1


def test_automl_run_logs_candidates_and_promotes_the_best(project: Path) -> None:
    settings = settings_for(
        project,
        **{
            "automl.enabled": True,
            "automl.n_trials": 3,
            "automl.cv_folds": 2,
            "automl.families": ["logistic_regression", "gradient_boosting"],
        },
    )
    context = BasePipeline(settings).run()
    assert context.trained.automl_cv_score is not None
    assert context.trained.family in {"logistic_regression", "gradient_boosting"}
    assert context.deployment.promoted
    children = mlflow.search_runs(
        [configure_tracking(settings)],
        filter_string=f"tags.mlflow.parentRunId = '{context.run_id}'",
    )
    assert len(children) == 3
    metric = f"metrics.cv_{settings.evaluation.primary_metric}"
    assert children[metric].max() == pytest.approx(context.trained.automl_cv_score)
