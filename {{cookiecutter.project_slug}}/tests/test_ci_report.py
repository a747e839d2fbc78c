"""scripts/ci_report.py: the decisions the CI pipelines take between the project's commands."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ci_report.py"
_spec = importlib.util.spec_from_file_location("ci_report", SCRIPT)
ci_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ci_report)

DIGEST = "ab" * 32
PROMOTED = {
    "job": "olive_tree_1",
    "status": "Completed",
    "promoted": True,
    "model_name": "churn",
    "version": "7",
    "digest": DIGEST,
    "reason": "roc_auc 0.91 beats the champion's 0.89 by 0.02",
}
KEPT = {**PROMOTED, "promoted": False, "reason": "roc_auc 0.88 does not beat 0.89"}


@pytest.fixture
def github(tmp_path, monkeypatch):
    """A GitHub Actions step: outputs and the job summary are files."""
    for name in ("TF_BUILD", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(tmp_path)
    return outputs, summary


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def read_outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_a_promoted_model_is_passed_on_exactly(tmp_path, github):
    outputs, summary = github
    assert ci_report.main(["gate", str(write(tmp_path, "train.json", PROMOTED))]) == 0
    assert read_outputs(outputs) == {
        "promoted": "true",
        "job": "olive_tree_1",
        "model_name": "churn",
        "version": "7",
        "digest": DIGEST,
    }
    assert "**Promoted** `churn` version `7`" in summary.read_text()


def test_a_kept_champion_is_green_with_nothing_to_deploy(tmp_path, github):
    outputs, summary = github
    assert ci_report.main(["gate", str(write(tmp_path, "train.json", KEPT))]) == 0
    assert read_outputs(outputs)["promoted"] == "false"
    assert read_outputs(outputs)["version"] == ""
    assert "Champion kept" in summary.read_text()
    assert "does not beat 0.89" in summary.read_text()


def test_a_failed_training_job_is_reported_and_fails(tmp_path, github, capsys):
    outputs, summary = github
    failed = {**KEPT, "status": "Failed", "reason": "step train failed: out of memory"}
    assert ci_report.main(["gate", str(write(tmp_path, "train.json", failed))]) == 1
    assert read_outputs(outputs)["promoted"] == "false"
    assert "did not succeed" in summary.read_text()
    assert "out of memory" in summary.read_text()
    assert "olive_tree_1 did not succeed" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["version", "digest"])
def test_a_promotion_without_exact_identity_is_refused(tmp_path, github, capsys, missing):
    summary = write(tmp_path, "train.json", {**PROMOTED, missing: None})
    assert ci_report.main(["gate", str(summary)]) == 1
    assert "cannot be identified exactly" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("version", "7; rm -rf /"),
        ("version", "latest"),
        ("digest", "sha256:abc"),
        ("digest", "AB" * 32),
    ],
)
def test_a_promotion_with_a_malformed_identity_is_refused(tmp_path, github, capsys, key, value):
    """Only a version number and a sha256 hex digest reach the later stages' command lines."""
    outputs, _ = github
    summary = write(tmp_path, "train.json", {**PROMOTED, key: value})
    assert ci_report.main(["gate", str(summary)]) == 1
    assert "expected a version number and a sha256 hex digest" in capsys.readouterr().err
    assert not outputs.exists()


def test_a_missing_or_broken_summary_names_the_file(tmp_path, github, capsys):
    assert ci_report.main(["gate", str(tmp_path / "absent.json")]) == 1
    assert "absent.json: no training summary was written" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{")
    assert ci_report.main(["gate", str(tmp_path / "bad.json")]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert ci_report.main(["gate", str(write(tmp_path, "short.json", {"job": "x"}))]) == 1
    assert "lacks status, promoted" in capsys.readouterr().err


def test_the_deployed_version_and_digest_must_match_the_gate(tmp_path, github, capsys):
    outputs, summary = github
    deployed = {"version": "7", "digest": "sha256:abc", "endpoint": "churn-prod"}
    path = write(tmp_path, "deploy.json", deployed)
    args = ["deployed", str(path), "--environment", "prod", "--version", "7"]
    assert ci_report.main([*args, "--digest", "sha256:abc"]) == 0
    assert read_outputs(outputs) == {"version": "7", "digest": "sha256:abc"}
    assert "## Deployed to prod" in summary.read_text()
    assert "churn-prod" in summary.read_text()

    assert ci_report.main([*args, "--digest", "sha256:other"]) == 1
    assert "not the same model" in capsys.readouterr().err
    wrong = ["deployed", str(path), "--environment", "prod", "--version", "8"]
    assert ci_report.main(wrong) == 1
    assert "expected version 8" in capsys.readouterr().err
    assert ci_report.main([*wrong[:-1], ""]) == 1
    assert "promoted nothing" in capsys.readouterr().err


@pytest.mark.parametrize(
    "layout",
    [
        lambda outputs: {"dev": outputs},  # flat
        lambda outputs: {"dev": {"dev": outputs}},  # nested by construct path (cdktf 0.21)
    ],
)
def test_workspace_coordinates_come_from_the_stack_outputs(tmp_path, github, layout):
    outputs_file, _ = github
    stack = {"resource_group_name": "rg-churn-dev", "workspace_name": "mlw-churn-dev-1a2b3c"}
    path = write(tmp_path, "infra-dev.json", layout(stack))
    assert ci_report.main(["workspace", str(path), "--environment", "dev"]) == 0
    assert read_outputs(outputs_file) == {
        "AZURE_RESOURCE_GROUP": "rg-churn-dev",
        "AZURE_ML_WORKSPACE": "mlw-churn-dev-1a2b3c",
    }


def test_workspace_coordinates_name_a_missing_environment(tmp_path, github, capsys):
    path = write(tmp_path, "infra.json", {"dev": {"resource_group_name": "rg"}})
    assert ci_report.main(["workspace", str(path), "--environment", "prod"]) == 1
    assert "no outputs for environment 'prod' (found: dev)" in capsys.readouterr().err
    assert ci_report.main(["workspace", str(path), "--environment", "dev"]) == 1
    assert "has no output workspace_name" in capsys.readouterr().err


def test_azure_devops_gets_output_variables_and_a_summary_page(tmp_path, monkeypatch, capsys):
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TF_BUILD", "True")
    monkeypatch.chdir(tmp_path)
    assert ci_report.main(["gate", str(write(tmp_path, "train.json", PROMOTED))]) == 0
    printed = capsys.readouterr().out
    assert "##vso[task.setvariable variable=version;isOutput=true]7" in printed
    assert "##vso[task.setvariable variable=promoted;isOutput=true]true" in printed
    page = tmp_path / ".ci-out" / "summary-gate.md"
    assert f"##vso[task.uploadsummary]{page}" in printed
    assert "**Promoted**" in page.read_text()
