"""Unit tests of the hooks' named functions (cookiecutter-django style)."""

from __future__ import annotations

import importlib.util
import json
import subprocess

import pytest
import yaml
from answers import INVALID_ANSWERS, INVALID_FOR_REGRESSION
from conftest import TEMPLATE_DIR

PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"


def test_defaults_are_valid(pre_gen, valid_answers):
    assert pre_gen.validate(valid_answers) == []


@pytest.mark.parametrize(("option", "value", "expected"), INVALID_ANSWERS)
def test_each_invalid_answer_names_option_value_and_rule(
    pre_gen, valid_answers, option, value, expected
):
    errors = pre_gen.validate({**valid_answers, option: value})
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{option}={value!r} is invalid: ")
    assert expected in errors[0]


def test_regression_answers_are_valid(pre_gen, valid_answers):
    regression = {**valid_answers, "task": "regression", "primary_metric": "rmse"}
    assert pre_gen.validate(regression) == []
    for family in ("gradient_boosting", "random_forest", "linear_regression"):
        for metric in ("rmse", "mae", "r2", "mape"):
            answers = {**regression, "model_family": family, "primary_metric": metric}
            assert pre_gen.validate(answers) == [], (family, metric)


@pytest.mark.parametrize(("option", "value", "expected"), INVALID_FOR_REGRESSION)
def test_answers_that_cannot_serve_regression_are_refused(
    pre_gen, valid_answers, option, value, expected
):
    regression = {**valid_answers, "task": "regression", "primary_metric": "rmse"}
    errors = pre_gen.validate({**regression, option: value})
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{option}={value!r} is invalid: ")
    assert expected in errors[0]


def test_the_hook_knows_the_metrics_the_project_declares(pre_gen):
    """The hook's copy of each task's metrics matches the project's tasks.py."""
    path = PROJECT_TEMPLATE / "src" / "{{cookiecutter.package_name}}" / "tasks.py"
    spec = importlib.util.spec_from_file_location("template_tasks", path)
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    assert {task: set(metrics) for task, metrics in pre_gen.TASK_METRICS.items()} == {
        task: set(metrics) for task, metrics in tasks.METRICS.items()
    }
    assert set(pre_gen.CHOICES["task"]) == set(tasks.TASKS)


def test_the_hook_checks_the_choices_cookiecutter_offers(pre_gen):
    context = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    for option, allowed in pre_gen.CHOICES.items():
        offered = [value for value in context[option] if "{{" not in value]  # rendered defaults
        assert set(offered) == set(allowed), option


def test_public_sandbox_may_not_hold_production(pre_gen, valid_answers):
    errors = pre_gen.validate({**valid_answers, "network_isolation": "public"})
    assert errors == [
        pre_gen.problem(
            "network_isolation",
            "public",
            "is a sandbox setting, but environments include 'prod'; use 'private' for production, "
            "or bake the sandbox with non-production environments only",
        )
    ]
    sandbox = {**valid_answers, "network_isolation": "public", "environments": "dev,test"}
    assert pre_gen.validate(sandbox) == []


def test_all_problems_are_reported_at_once(pre_gen, valid_answers):
    answers = {**valid_answers, "resource_prefix": "X", "gpu_max_nodes": "0", "ci_provider": "x"}
    assert [e.split("=")[0] for e in pre_gen.validate(answers)] == [
        "resource_prefix",
        "gpu_max_nodes",
        "ci_provider",
    ]


def test_main_exits_non_zero_with_messages(pre_gen, valid_answers, capsys):
    assert pre_gen.main(json.dumps(valid_answers)) == 0
    assert pre_gen.main(json.dumps({**valid_answers, "resource_prefix": "X"})) == 1
    err = capsys.readouterr().err
    assert "ERROR: resource_prefix='X' is invalid" in err
    assert "Nothing was generated" in err


@pytest.mark.parametrize(
    ("provider", "removed"),
    [
        ("github", ["azure-pipelines.yml", ".azure-pipelines"]),
        ("azure-devops", [".github"]),
        ("both", []),
    ],
)
def test_excluded_paths_follow_ci_provider(post_gen, valid_answers, provider, removed):
    assert post_gen.excluded_paths({**valid_answers, "ci_provider": provider}) == removed


def test_remove_paths_is_idempotent(post_gen, tmp_path):
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / "azure-pipelines.yml").write_text("trigger: none\n")
    (tmp_path / "keep.txt").write_text("kept")
    paths = [".github", "azure-pipelines.yml", "never-existed"]
    post_gen.remove_paths(tmp_path, paths)
    post_gen.remove_paths(tmp_path, paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_one_sample_data_set_is_kept_the_one_for_the_task(post_gen, tmp_path, task):
    data = tmp_path / "data"
    data.mkdir()
    (data / "sample.csv").write_text("churned\n1\n")
    (data / "sample_regression.csv").write_text("fare_amount\n9.5\n")

    post_gen.choose_sample_data(tmp_path, task)
    post_gen.choose_sample_data(tmp_path, task)  # idempotent

    assert sorted(path.name for path in data.iterdir()) == ["sample.csv"]
    expected = "fare_amount" if task == "regression" else "churned"
    assert (data / "sample.csv").read_text().startswith(expected)


def test_a_regression_bake_ships_regression_settings_and_data(bake):
    project = bake(task="regression")

    assert not (project / "data" / "sample_regression.csv").exists()
    with (project / "data" / "sample.csv").open() as sample:
        header = sample.readline().strip().split(",")
    assert "fare_amount" in header
    assert "churned" not in header
    settings = yaml.safe_load((project / "config" / "pipeline.yaml").read_text())
    assert settings["task"] == "regression"
    assert settings["data"]["target"] == "fare_amount"
    assert settings["evaluation"]["primary_metric"] == "rmse"
    assert settings["model"]["family"] == "gradient_boosting"
    assert settings["automl"]["families"] == [
        "gradient_boosting",
        "random_forest",
        "linear_regression",
    ]
    assert settings["azure"]["sweep"]["goal"] is None


def test_cruft_record_from_git_checkout(post_gen, valid_answers, tmp_path):
    repo = tmp_path / "template"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    answers = {**valid_answers, "_template": ".", "_repo_dir": str(repo), "_output_dir": "/x"}

    record = post_gen.cruft_record(answers)

    assert record["template"] == str(repo)
    assert record["commit"] == head
    context = record["context"]["cookiecutter"]
    assert context["_commit"] == head
    assert "_output_dir" not in context
    assert context["resource_prefix"] == "custom"


def test_cruft_record_keeps_remote_template_url(post_gen, valid_answers):
    answers = {**valid_answers, "_template": "gh:org/cookiecutter-azureml-mlops", "_repo_dir": ""}
    record = post_gen.cruft_record(answers)
    assert record["template"] == "gh:org/cookiecutter-azureml-mlops"
    assert record["commit"] is None


# --- infrastructure answers: region capabilities, address space, budget (issue 11) -----------


@pytest.mark.parametrize(
    ("changes", "option", "expected"),
    [
        ({"address_space": "10.0.0.0/16,10.0.0.0/17"}, "address_space", "overlaps"),
        ({"address_space": "10.0.0.0/16,10.1.0.0/16,10.2.0.0/16"}, "address_space", "one range"),
        ({"address_space": "10.0.0.1/16"}, "address_space", "host bits set"),
        ({"address_space": "10.0.0/16"}, "address_space", "not an IPv4 range"),
        ({"address_space": "8.8.0.0/16"}, "address_space", "not inside a private range"),
        ({"address_space": "10.0.0.0/21"}, "address_space", "cannot hold a /20"),
        (
            {"azure_location": "westus", "storage_redundancy": "ZRS"},
            "storage_redundancy",
            "westus has no availability zones",
        ),
        (
            {"azure_location": "italynorth", "storage_redundancy": "GRS"},
            "storage_redundancy",
            "italynorth has no paired region",
        ),
        ({"storage_redundancy": "RAGRS"}, "storage_redundancy", "must be one of auto"),
        ({"budget_amount": "0"}, "budget_amount", "whole number from 1"),
        ({"budget_amount": "lots"}, "budget_amount", "whole number from 1"),
        ({"budget_contact_email": "team"}, "budget_contact_email", "one e-mail address"),
        ({"budget_contact_email": 'a"b@x.com'}, "budget_contact_email", "one e-mail address"),
    ],
    ids=str,
)
def test_infrastructure_answers_are_checked_with_the_option_named(
    pre_gen, valid_answers, changes, option, expected
):
    answers = {**valid_answers, **changes}
    errors = pre_gen.validate(answers)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{option}={answers[option]!r} is invalid: ")
    assert expected in errors[0]


def test_one_range_per_environment_is_accepted(pre_gen, valid_answers):
    answers = {**valid_answers, "address_space": "10.10.0.0/16,10.20.0.0/16"}
    assert pre_gen.validate(answers) == []


def test_a_region_without_zones_warns_with_the_consequence(pre_gen, valid_answers, capsys):
    answers = {**valid_answers, "azure_location": "westus"}
    assert pre_gen.validate(answers) == []  # auto picks GRS there
    assert pre_gen.main(json.dumps(answers)) == 0
    err = capsys.readouterr().err
    assert "WARNING: azure_location='westus'" in err
    assert "not zone-redundant" in err
    assert pre_gen.region_warnings(valid_answers) == []


def test_sensitive_features_the_sample_data_lacks_are_warned_about(pre_gen, valid_answers, capsys):
    answers = {**valid_answers, "sensitive_features": " gender , age"}
    assert pre_gen.validate(answers) == []  # the project is for the user's data
    assert pre_gen.main(json.dumps(answers)) == 0
    assert capsys.readouterr().err == (
        "WARNING: sensitive_features=' gender , age': 'gender' not in the shipped "
        "data/sample.csv, so `run` on the sample refuses it until data.path points at data "
        "that has it\n"
    )
    for present in ("none", "age,contract"):
        assert pre_gen.sample_data_warnings({**valid_answers, "sensitive_features": present}) == []


def test_a_regression_bake_checks_sensitive_features_against_the_regression_sample(
    pre_gen, valid_answers
):
    regression = {**valid_answers, "task": "regression", "primary_metric": "rmse"}
    assert pre_gen.sample_data_warnings({**regression, "sensitive_features": "vendor"}) == []
    (warning,) = pre_gen.sample_data_warnings({**regression, "sensitive_features": "age"})
    assert "'age' not in the shipped data/sample.csv" in warning


def test_the_hook_reads_the_same_region_table_as_the_stacks(pre_gen, valid_answers):
    regions = pre_gen.project_infra_module(valid_answers, "regions")
    assert regions.REGIONS == pre_gen.AZURE_REGIONS
    assert regions.storage_redundancy("westeurope", "auto") == "GZRS"


def test_a_rejected_infrastructure_answer_leaves_nothing_behind(tmp_path):
    from conftest import TEMPLATE_DIR
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.main import cookiecutter

    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            output_dir=str(tmp_path),
            extra_context={"address_space": "10.0.0.0/16,10.0.0.0/17"},
        )
    assert list(tmp_path.iterdir()) == []
