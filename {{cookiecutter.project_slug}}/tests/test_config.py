"""Settings: baked defaults, file < environment < overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_config

from {{ cookiecutter.package_name }}.config import ConfigError, load_settings


def test_defaults_follow_the_bake_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config file anywhere up from here
    settings = load_settings()
    assert settings.model.family == "{{ cookiecutter.model_family }}"
    assert settings.evaluation.primary_metric == "{{ cookiecutter.primary_metric }}"
    assert settings.automl.enabled is {{ "True" if cookiecutter.use_automl == "yes" else "False" }}
    assert settings.model_name == "{{ cookiecutter.package_name }}"
    assert settings.tracking_uri == f"sqlite:///{tmp_path.resolve()}/.mlflow/mlflow.db"


def test_shipped_config_is_valid_and_matches_the_defaults() -> None:
    project_dir = Path(__file__).resolve().parents[1]
    settings = load_settings(project_dir / "config" / "pipeline.yaml")
    assert settings.project_dir == project_dir
    assert settings.data_path == project_dir / "data" / "sample.csv"
    assert settings.data_path.is_file()
    assert settings.model.family == "{{ cookiecutter.model_family }}"
    assert settings.backend == "local"


def test_overrides_beat_environment_beats_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = project / "config" / "pipeline.yaml"
    assert load_settings(config).tracking_uri.endswith(".mlflow/mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    settings = load_settings(config, {"data.target": "label", "seed": None})
    assert settings.tracking_uri == "sqlite:////elsewhere/mlflow.db"
    assert settings.data.target == "label"
    assert settings.seed == 42  # None means "option not given"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model.family": "catboost"}, "model.family"),
        ({"evaluation.primary_metric": "auc"}, "evaluation.primary_metric"),
        ({"evaluation.min_improvement": -0.1}, "evaluation.min_improvement"),
        ({"data.test_size": 1.5}, "data.test_size"),
        ({"model.training_function": "no_colon_here"}, "module:function"),
        ({"data.nonsense": 1}, "data.nonsense"),
        ({"backend": "aws"}, "backend"),
        ({"azure": {"compute": "kubernetes"}}, "azure.compute"),
        ({"azure": {"data_asset": "no-version"}}, "name:version"),
        (
            {"azure": {"subscription_id": " ", "resource_group_name": "r", "workspace_name": "w"}},
            "azure.subscription_id",
        ),
    ],
)
def test_invalid_settings_name_the_key(project: Path, overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(project / "config" / "pipeline.yaml", overrides)


def test_azure_section_uses_the_infra_output_names(project: Path) -> None:
    azure = {
        "subscription_id": "00000000-0000-0000-0000-000000000000",
        "resource_group_name": "rg-churn-dev",
        "workspace_name": "mlw-churn-dev",
        "cpu_cluster_name": "cpu-cluster",
        "gpu_cluster_name": "gpu-cluster",
    }
    settings = load_settings(project / "config" / "pipeline.yaml", {"azure": azure})
    assert settings.azure is not None
    assert settings.azure.workspace_name == "mlw-churn-dev"


def test_missing_or_broken_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    (tmp_path / "config").mkdir()
    broken = tmp_path / "config" / "pipeline.yaml"
    broken.write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(broken)


def test_fingerprint_tracks_model_settings_not_storage(project: Path) -> None:
    config = project / "config" / "pipeline.yaml"
    base = load_settings(config).fingerprint()
    assert load_settings(config, {"tracking.model_name": "other"}).fingerprint() == base
    assert load_settings(config, {"model.params": {"max_iter": 5}}).fingerprint() != base
    assert load_settings(config, {"seed": 1}).fingerprint() != base


def test_relative_paths_resolve_against_the_project(project: Path) -> None:
    write_config(project, {"data": {"path": "data/sample.csv"}, "runs_dir": "out/runs"})
    settings = load_settings(project / "config" / "pipeline.yaml")
    assert settings.data_path == project / "data" / "sample.csv"
    assert settings.runs_path == project / "out" / "runs"
