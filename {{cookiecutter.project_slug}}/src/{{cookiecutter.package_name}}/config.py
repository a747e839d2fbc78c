"""Typed pipeline settings: defaults < `config/pipeline.yaml` < environment < CLI options.

One validated object is shared by every step, the CLI and the serving code, so a typo in the
YAML fails at start-up with the key's name instead of half-way through a training run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from . import families, tasks
from .errors import PipelineError

PACKAGE_NAME = __name__.split(".")[0]
# The one naming rule: every Azure name this project creates (environments, data assets,
# schedules, monitors, endpoints, the infrastructure) starts with the project slug; the package
# name is the Python import name only (`python -m`, component names), and the model's name is
# `tracking.model_name`. A bake whose package name is not the slug with underscores keeps both.
PROJECT_SLUG = "{{ cookiecutter.project_slug }}"
CONFIG_RELATIVE_PATH = Path("config") / "pipeline.yaml"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"

MetricName = Literal[
    "roc_auc", "f1", "accuracy", "precision", "recall", "rmse", "mae", "r2", "mape"
]
METRIC_NAMES: tuple[str, ...] = tasks.ALL_METRICS
# The real families, for help texts; `families.FAMILIES` (baselines included) is what validates.
MODEL_FAMILIES: tuple[str, ...] = families.choices()


def _declared_family(name: str) -> str:
    """Checked against the family table when the settings are read, so a family registered
    by the project's own code is accepted like a built-in one."""
    if name not in families.FAMILIES:
        raise ValueError(f"unknown model family '{name}': use {', '.join(families.FAMILIES)}")
    return name


ModelFamily = Annotated[str, AfterValidator(_declared_family)]


class ConfigError(PipelineError):
    """The configuration file or an override is invalid."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSettings(_Section):
    path: Path = Path("data/sample.csv")
    target: str = "{{ 'fare_amount' if cookiecutter.task == 'regression' else 'churned' }}"
    test_size: float = Field(0.2, gt=0.0, lt=1.0)


class ModelSettings(_Section):
    family: ModelFamily = "{{ cookiecutter.model_family }}"
    params: dict[str, Any] = Field(default_factory=dict)
    # "package.module:function" or "path/to/file.py:function"; replaces the built-in family.
    training_function: str | None = None
    # CPU threads for fitting and scoring; None lets the libraries use every core.
    threads: int | None = Field(None, ge=1)
    # Extra types skops may load for a custom model, after you reviewed them (no pickle).
    trusted_types: list[str] = Field(default_factory=list)

    @field_validator("training_function")
    @classmethod
    def _looks_like_module_colon_function(cls, value: str | None) -> str | None:
        if value and (value.count(":") != 1 or not all(value.split(":"))):
            raise ValueError(
                f"'{value}' is not 'module:function' (e.g. 'my_project.models:train_model')"
            )
        return value or None


class SignificanceSettings(_Section):
    """Optional paired test of the metric difference on the shared holdout."""

    # none: the point estimate and min_improvement decide; bootstrap: additionally the lower
    # bound of a paired bootstrap confidence interval of (challenger - champion) must be > 0.
    test: Literal["none", "bootstrap"] = "none"
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    resamples: int = Field(1000, ge=100, le=100_000)


class FairnessSettings(_Section):
    """Group metrics on the holdout for the sensitive columns, and an optional gate condition."""

    # Columns whose groups are compared (numeric ones with many values in quantile bands).
    sensitive_features: list[str] = Field(default_factory=lambda: {{ ([] if cookiecutter.sensitive_features.strip().lower() == "none" else cookiecutter.sensitive_features.split(",") | map("trim") | list) | tojson }})
    # true: a challenger whose primary-metric difference between groups is worse than the
    # champion's by more than `tolerance` (absolute, in metric units) is not promoted.
    gate: bool = False
    tolerance: float = Field(0.02, ge=0.0)  # regression errors are in the target's units

    @field_validator("sensitive_features")
    @classmethod
    def _named_once(cls, names: list[str]) -> list[str]:
        if any(not name.strip() for name in names):
            raise ValueError("column names must not be empty")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once")
        return names

    @model_validator(mode="after")
    def _gate_needs_columns(self) -> FairnessSettings:
        if self.gate and not self.sensitive_features:
            raise ValueError(
                "gate is true but sensitive_features is empty: name the columns whose groups "
                "the gate compares, or set gate: false"
            )
        return self


class EvaluationSettings(_Section):
    primary_metric: MetricName = "{{ cookiecutter.primary_metric }}"
    # A challenger must beat the champion by at least this much (absolute, in metric units).
    min_improvement: float = Field(0.001, ge=0.0)
    significance: SignificanceSettings = Field(default_factory=SignificanceSettings)
    fairness: FairnessSettings = Field(default_factory=FairnessSettings)


class PipelineSettings(_Section):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # The class whose step methods `run` and every per-step command call: "module:Class" or
    # "path/to/file.py:Class" (project-relative), a subclass of BasePipeline.
    class_: str = Field(f"{PACKAGE_NAME}.pipeline:BasePipeline", alias="class")

    @field_validator("class_")
    @classmethod
    def _looks_like_module_colon_class(cls, value: str) -> str:
        if value.count(":") != 1 or not all(value.split(":")):
            raise ValueError(
                f"'{value}' is not 'module:Class' (e.g. 'my_project.flows:MyPipeline')"
            )
        return value


class AutoMLSettings(_Section):
    enabled: bool = {{ "True" if cookiecutter.use_automl == "yes" else "False" }}
    n_trials: int = Field(12, ge=1)
    timeout_seconds: int = Field(120, ge=1)
    # None: the task's defaults (families.default_search). xgboost is searchable too (name it
    # here or in the config); it costs more per trial.
    families: list[ModelFamily] | None = Field(None, min_length=1)
    cv_folds: int = Field(3, ge=2)


class TrackingSettings(_Section):
    # None means sqlite:///<project>/.mlflow/mlflow.db; MLFLOW_TRACKING_URI overrides the file.
    uri: str | None = None
    artifact_location: Path = Path(".mlflow/artifacts")
    experiment_name: str = PACKAGE_NAME
    model_name: str = PACKAGE_NAME
    # Model aliases: auto = off for azureml:// stores, else what one probe of the store finds.
    aliases: Literal["auto", "on", "off"] = "auto"
    # Where deployment records live: registered-model tags (on) or the deployed version's tags
    # (off); auto = off for azureml:// stores (only version tags are documented there).
    model_tags: Literal["auto", "on", "off"] = "auto"


class ScheduleSettings(_Section):
    """Scheduled retraining on Azure ML (`azure schedule`)."""

    cron: str = "0 3 * * 1"  # NCronTab: minute hour day month weekday
    time_zone: str = "UTC"  # a Windows time zone name, e.g. "W. Europe Standard Time"


class SearchDimension(_Section):
    """One hyperparameter of an Azure ML sweep; bounds are plain values (not logarithms)."""

    type: Literal["choice", "uniform", "loguniform", "randint"]
    values: list[Any] | None = None  # choice
    min_value: float | None = None  # uniform, loguniform
    max_value: float | None = None  # uniform, loguniform
    upper: int | None = None  # randint: 0 <= value < upper


class SweepSettings(_Section):
    """When enabled, the Azure ML train step becomes a sweep over `search_space` (model.params).

    Locally the optuna search of `automl` stays the way to tune.
    """

    enabled: bool = False
    search_space: dict[str, SearchDimension] = Field(default_factory=dict)
    sampling_algorithm: Literal["random", "grid", "bayesian"] = "random"
    # Trials are scored on a validation split of the training data with this metric.
    primary_metric: MetricName | None = None  # default: evaluation.primary_metric
    # default: the metric's own direction (minimize an error such as rmse)
    goal: Literal["maximize", "minimize"] | None = None
    early_termination: Literal["bandit", "median_stopping", "none"] = "bandit"
    max_total_trials: int = Field(8, ge=1)
    max_concurrent_trials: int = Field(2, ge=1)
    timeout_minutes: int = Field(60, ge=1)


class AzureSettings(_Section):
    """Azure ML settings. Workspace coordinates left empty are taken from environment variables
    or derived from the infrastructure's naming (see `<package> azure --help`)."""

    environment: str | None = None  # infra environment (default: the first one)
    subscription_id: str | None = None
    resource_group_name: str | None = None
    workspace_name: str | None = None
    cpu_cluster_name: str | None = None
    gpu_cluster_name: str | None = None
    # cluster: the infra's clusters (GPU cluster for GPU-capable families); serverless: no cluster.
    compute: Literal["cluster", "serverless"] = "cluster"
    gpu_training: bool = True  # train GPU-capable families (xgboost) on the GPU cluster
    data_asset: str | None = None  # "name:version" of data already in the workspace
    experiment_name: str | None = None  # default: tracking.experiment_name
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    sweep: SweepSettings = Field(default_factory=SweepSettings)

    @field_validator("subscription_id", "resource_group_name", "workspace_name")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave it out to use the default)")
        return value

    @field_validator("data_asset")
    @classmethod
    def _name_colon_version(cls, value: str | None) -> str | None:
        if value and (value.count(":") != 1 or not all(value.split(":"))):
            raise ValueError(f"'{value}' is not 'name:version' (e.g. 'churn-data:3')")
        return value or None


class ProbeSettings(_Section):
    """Liveness/readiness probe of an online deployment (Azure's fields, in seconds)."""

    initial_delay: int = Field(10, ge=1)
    period: int = Field(10, ge=1)
    timeout: int = Field(2, ge=1)
    failure_threshold: int = Field(30, ge=1)
    success_threshold: int = Field(1, ge=1)


class AutoscaleSettings(_Section):
    """Azure Monitor autoscale of the live online deployment: CPU rules between min and max."""

    enabled: bool = True
    min_instances: int = Field(1, ge=1)
    max_instances: int = Field(3, ge=1)
    scale_out_cpu_percent: int = Field(70, gt=0, le=100)
    scale_in_cpu_percent: int = Field(30, gt=0, le=100)
    cooldown_minutes: int = Field(5, ge=1)


class BatchDeploymentSettings(_Section):
    """The batch endpoint's deployment: runs `score-batch`'s code on the CPU cluster."""

    instance_count: int = Field(1, ge=1)
    mini_batch_size: int = Field(10, ge=1)  # files per run() call
    max_concurrency_per_instance: int = Field(1, ge=1)
    error_threshold: int = Field(0, ge=-1)  # failed files tolerated; -1 ignores all failures
    max_retries: int = Field(3, ge=0)
    timeout_seconds: int = Field(300, ge=1)  # per mini-batch
    chunk_rows: int = Field(50_000, ge=1)


class DeploymentSettings(_Section):
    """Online (blue/green) and batch endpoints; names default to ones derived like the infra's."""

    endpoint_name: str | None = None
    batch_endpoint_name: str | None = None
    # Registered Azure ML environment, "name:version" (never latest); default: the CPU image.
    environment: str | None = None
    # No public scoring access and no public egress, like the workspace (network_isolation).
    private: bool = {{ "True" if cookiecutter.network_isolation == "private" else "False" }}
    instance_type: str = "Standard_DS3_v2"
    instance_count: int = Field(1, ge=1)
    workers: int = Field(2, ge=1)  # server worker processes per instance
    omp_num_threads: int = Field(1, ge=1)
    request_timeout_ms: int = Field(5_000, ge=1, le=180_000)
    max_concurrent_requests_per_instance: int = Field(4, ge=1)
    max_queue_wait_ms: int = Field(500, ge=1)
    liveness_probe: ProbeSettings = Field(default_factory=ProbeSettings)
    readiness_probe: ProbeSettings = Field(default_factory=ProbeSettings)
    smoke_test_rows: int = Field(5, ge=1)
    mirror_percent: int = Field(0, ge=0, le=50)  # 0 skips mirroring
    mirror_minutes: float = Field(5, ge=0)
    traffic_steps: list[int] = Field(default_factory=lambda: [10, 50, 100], min_length=1)
    health_requests: int = Field(20, ge=1)  # probe requests per health check
    max_error_rate: float = Field(0.0, ge=0.0, lt=1.0)
    max_p95_latency_ms: float = Field(1_000, gt=0)
    production_environment: str = "{{ cookiecutter.environments.split(',')[-1].strip() }}"
    autoscale: AutoscaleSettings = Field(default_factory=AutoscaleSettings)
    batch: BatchDeploymentSettings = Field(default_factory=BatchDeploymentSettings)

    @field_validator("traffic_steps")
    @classmethod
    def _steps_rise_to_100(cls, steps: list[int]) -> list[int]:
        if any(not 0 < step <= 100 for step in steps) or steps != sorted(set(steps)):
            raise ValueError(f"{steps} must rise strictly, each in 1-100 (e.g. [10, 50, 100])")
        if steps[-1] != 100:
            raise ValueError(f"{steps} must end at 100: the new deployment takes all traffic")
        return steps


class InferenceLogSettings(_Section):
    """Where `serve` records each request (inputs, predictions, model version, request id)."""

    enabled: bool = True
    path: Path = Path(".mlflow/inference")
    # Rows wait in memory at most this long: a crashed server loses at most this interval.
    flush_seconds: float = Field(10.0, gt=0.0, le=3600.0)
    # Each hour's segments are merged into one file this often; days older than
    # retention_days are deleted then too.
    compact_minutes: float = Field(10.0, gt=0.0, le=60.0)
    retention_days: int = Field(30, ge=1)


class DriftSettings(_Section):
    """When `monitor drift` calls a feature, the predictions and the whole data set drifted."""

    # A feature drifts when its tests reject at this level, controlled across all features
    # together (Benjamini-Hochberg false discovery rate, so 30 features do not raise 30 times
    # the false alarms of one)...
    p_value: float = Field(0.05, gt=0.0, lt=1.0)
    # ...and the shift is large enough to matter: normalized Wasserstein distance (numeric)
    # or Jensen-Shannon distance (categorical). 0 flags every statistically significant shift.
    min_effect: float = Field(0.1, ge=0.0)
    # The data set drifted when at least this share of its features drifted.
    drifted_share: float = Field(0.3, gt=0.0, le=1.0)
    # Prediction drift alone also counts as drift.
    include_predictions: bool = True
    # Fewer current rows than this are refused: a handful of rows says nothing about drift.
    min_rows: int = Field(100, ge=1)
    # A column's share of missing (or non-finite) values moving by at least this much is a
    # data-quality signal; one such feature makes the whole check drift (a broken upstream
    # feed must not hide behind drifted_share).
    min_missing_change: float = Field(0.05, gt=0.0, le=1.0)
    quality_is_drift: bool = True


class AzureMonitorSettings(_Section):
    """The Azure ML model monitor and the scheduled drift-and-retrain job (`monitor schedule`)."""

    endpoint_name: str | None = None  # online endpoint whose collected data is watched
    deployment_name: str = "blue"
    alert_emails: list[str] = Field(default_factory=list)
    monitor_cron: str = "0 3 * * *"  # model monitor (UTC)
    retrain_cron: str = "0 4 * * *"  # `monitor drift --retrain` job (UTC), after the monitor
    lookback_days: int = Field(7, ge=1)
    reference_data: str | None = None  # e.g. azureml:<model>-reference:1 (an MLTable asset)
    environment: str | None = None  # default: the CPU training environment (azure submit)
    spark_instance_type: str = "standard_e4s_v3"
    spark_runtime_version: str = "3.4"


class QualitySettings(_Section):
    """Live model quality from fed-back outcomes (`monitor feedback`, `monitor quality`)."""

    # Where `monitor feedback` keeps the outcomes it matched to logged requests.
    feedback_path: Path = Path(".mlflow/feedback")
    # The serving version is degraded when even the best end of its live metric's confidence
    # interval is worse than its own holdout evaluation by more than this margin (in metric
    # units: for rmse or mae, the target's units).
    margin: float = Field(0.05, ge=0.0)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    resamples: int = Field(1000, ge=100, le=100_000)
    min_labelled_rows: int = Field(50, ge=1)
    # Retraining on fed-back data: append the labelled production rows to the configured
    # training data, or replace it with them (when the world changed, old labels mislead).
    retrain_data: Literal["append", "replace"] = "append"


class MonitoringSettings(_Section):
    inference_log: InferenceLogSettings = Field(default_factory=InferenceLogSettings)
    # Training rows kept with each model as the drift reference (a sample above this size).
    reference_rows: int = Field(20_000, ge=100)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    azure: AzureMonitorSettings = Field(default_factory=AzureMonitorSettings)


class Settings(_Section):
    project_dir: Path
    # What the target is: classes (classification) or a number (regression). Metrics, model
    # families, the gate's direction, serving's output and monitoring all follow it.
    task: tasks.Task = "{{ cookiecutter.task }}"
    seed: int = 42
    runs_dir: Path = Path(".runs")
    backend: Literal["local", "azure"] = "local"
    data: DataSettings = Field(default_factory=DataSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    automl: AutoMLSettings = Field(default_factory=AutoMLSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    azure: AzureSettings = Field(default_factory=AzureSettings)
    deployment: DeploymentSettings = Field(default_factory=DeploymentSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    # Where these settings came from: the file and the overrides given on top of it (CLI
    # options), so that a submitted Azure ML job can run with exactly these settings.
    _config_path: Path | None = PrivateAttr(default=None)
    _overrides: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("azure", mode="before")
    @classmethod
    def _azure_defaults(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _everything_fits_the_task(self) -> Settings:
        """Metrics and families that cannot serve the task fail when the settings are read,
        naming the task's choices, instead of deep inside a training run."""
        problems = []
        for key, metric in (
            ("evaluation.primary_metric", self.evaluation.primary_metric),
            ("azure.sweep.primary_metric", self.azure.sweep.primary_metric),
        ):
            if metric is not None and metric not in tasks.METRICS[self.task]:
                problems.append(
                    f"{key}: '{metric}' is not a {self.task} metric (task: {self.task}); use "
                    f"one of {', '.join(tasks.METRICS[self.task])}"
                )
        named = [("model.family", self.model.family)] + [
            ("automl.families", name) for name in self.automl_families
        ]
        for key, name in named:
            if self.task not in families.FAMILIES[name].tasks():
                problems.append(
                    f"{key}: '{name}' has no {self.task} model (task: {self.task}); use one "
                    f"of {', '.join(families.choices(self.task))}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def automl_families(self) -> list[str]:
        """The families AutoML searches: the configured ones, else the task's defaults."""
        return list(self.automl.families or families.default_search(self.task))

    @property
    def sweep_metric(self) -> str:
        return self.azure.sweep.primary_metric or self.evaluation.primary_metric

    @property
    def sweep_goal(self) -> str:
        return self.azure.sweep.goal or tasks.goal(self.sweep_metric)

    def resolve(self, path: Path) -> Path:
        """Project-relative paths become absolute, so steps work from any directory."""
        return path if path.is_absolute() else (self.project_dir / path).resolve()

    @property
    def data_path(self) -> Path:
        return self.resolve(self.data.path)

    @property
    def runs_path(self) -> Path:
        return self.resolve(self.runs_dir)

    @property
    def tracking_uri(self) -> str:
        if self.tracking.uri:
            return self.tracking.uri
        return f"sqlite:///{self.resolve(Path('.mlflow/mlflow.db'))}"

    @property
    def artifact_uri(self) -> str:
        return self.resolve(self.tracking.artifact_location).as_uri()

    @property
    def model_name(self) -> str:
        return self.tracking.model_name

    def effective_config(self, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        """The config file's tree with every override written in (keys in `skip` left out):
        loading it gives these settings, wherever it is read from."""
        tree = _read_yaml(self._config_path) if self._config_path else {}
        for key, value in self._overrides.items():
            if key not in skip:
                _set_dotted(tree, key, value)
        return tree

    def fingerprint(self) -> str:
        """Hash of every setting that shapes the model (not where things are stored)."""
        shaping = self.model_dump(
            mode="json", include={"seed", "task", "data", "model", "evaluation", "automl"}
        )
        shaping["data"].pop("path")  # the data itself is hashed separately
        encoded = yaml.safe_dump(shaping, sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]


def find_config(start: Path | None = None) -> Path | None:
    """The nearest `config/pipeline.yaml` from `start` (default: cwd) upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_RELATIVE_PATH
        if candidate.is_file():
            return candidate
    return None


def _set_dotted(tree: dict[str, Any], dotted_key: str, value: Any) -> None:
    *parents, leaf = dotted_key.split(".")
    node = tree
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"Override '{dotted_key}': '{key}' is not a section")
        node = child
    node[leaf] = value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"Config file {path} is not valid YAML: {error}") from None
    if not isinstance(content, dict):
        raise ConfigError(f"Config file {path} must contain a mapping of settings")
    return content


def load_settings(
    config_path: Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Load and validate settings.

    `overrides` use dotted keys (`{"data.target": "label"}`) and win over the file; `None`
    values are ignored so CLI options that were not given leave the file alone.
    The project directory (the base of relative paths) is the config file's grandparent, or
    the current directory when there is no config file.
    """
    if config_path is not None and not config_path.is_file():
        raise ConfigError(f"Config file {config_path} does not exist: pass an existing --config")
    config_path = config_path or find_config()
    if config_path is None:
        tree: dict[str, Any] = {}
        project_dir = Path.cwd().resolve()
    else:
        tree = _read_yaml(config_path)
        project_dir = config_path.resolve().parent.parent
    tree.setdefault("project_dir", str(project_dir))
    if os.environ.get(TRACKING_URI_ENV):
        _set_dotted(tree, "tracking.uri", os.environ[TRACKING_URI_ENV])
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    for key, value in given.items():
        _set_dotted(tree, key, _plain(value))
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
            for issue in error.errors()
        )
        source = config_path or "defaults"
        raise ConfigError(f"Invalid settings ({source}): {problems}") from None
    settings._config_path = config_path
    settings._overrides = {key: _plain(value) for key, value in given.items()}
    return settings


def _plain(value: Any) -> Any:
    """An override as YAML can hold it (a CLI path option is a Path)."""
    return str(value) if isinstance(value, Path) else value
