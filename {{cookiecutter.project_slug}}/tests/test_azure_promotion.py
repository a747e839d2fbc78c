"""`azure deploy --version N` in a later environment copies N from the training workspace:
the copy, its idempotence, and every refusal (which registers nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure_fixtures import FakeMLClient, azure_project
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.azure import deploy_cli, workspace
from {{ cookiecutter.package_name }}.azure.promotion import promote_version
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.lineage import model_digest
from {{ cookiecutter.package_name }}.registry import DIGEST_TAG

MODEL = "{{ cookiecutter.package_name }}"


def model_folder(root: Path, content: str = "weights") -> Path:
    folder = root / "model"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "model.pkl").write_text(content)
    return folder


def workspaces(tmp_path: Path, tags: dict[str, str] | None = None) -> tuple[FakeMLClient, ...]:
    """A source workspace holding v3 (tagged with its files' digest) and an empty target."""
    source, target = FakeMLClient(), FakeMLClient()
    source.workspace_name, target.workspace_name = "mlw-dev", "mlw-prod"
    folder = model_folder(tmp_path / "source")
    if tags is None:
        tags = {DIGEST_TAG: model_digest(folder), "lineage.git_commit": "abc"}
    source.models.add(MODEL, "3", folder, tags)
    return source, target


def test_the_version_is_copied_with_its_number_tags_and_bytes(tmp_path) -> None:
    source, target = workspaces(tmp_path)
    said: list[str] = []
    assert promote_version(source, target, MODEL, "3", log=said.append) is True
    [(copy, registered_digest)] = target.models.registered
    original = source.models.get(MODEL, "3")
    assert (copy.name, copy.version, copy.type) == (MODEL, "3", "mlflow_model")
    assert copy.tags == original.tags
    assert registered_digest == original.tags[DIGEST_TAG]
    assert "copied mlw-dev -> mlw-prod" in said[-1]
    assert source.models.registered == []


def test_promoting_again_finds_the_copy_and_does_nothing(tmp_path) -> None:
    source, target = workspaces(tmp_path)
    promote_version(source, target, MODEL, "3", log=lambda line: None)
    said: list[str] = []
    assert promote_version(source, target, MODEL, "3", log=said.append) is False
    assert len(target.models.registered) == 1
    assert "already in mlw-prod" in said[-1]


def test_a_download_that_does_not_match_the_digest_is_refused(tmp_path) -> None:
    source, target = workspaces(tmp_path, tags={DIGEST_TAG: "0" * 64})
    with pytest.raises(PipelineError, match="not its tag's 000000000000: nothing was copied"):
        promote_version(source, target, MODEL, "3", log=lambda line: None)
    assert target.models.registered == []


def test_missing_version_missing_digest_and_a_clashing_copy_are_refused(tmp_path) -> None:
    source, target = workspaces(tmp_path)
    with pytest.raises(PipelineError, match="v4 is not in workspace mlw-dev"):
        promote_version(source, target, MODEL, "4", log=lambda line: None)
    other = model_folder(tmp_path / "other", content="other weights")
    target.models.add(MODEL, "3", other, {DIGEST_TAG: model_digest(other)})
    with pytest.raises(PipelineError, match="already exists in workspace mlw-prod with digest"):
        promote_version(source, target, MODEL, "3", log=lambda line: None)
    undigested, _ = workspaces(tmp_path / "bare", tags={})
    with pytest.raises(PipelineError, match=r"has no model\.sha256 tag"):
        promote_version(undigested, FakeMLClient(), MODEL, "3", log=lambda line: None)
    assert target.models.registered == []


def test_deploy_copies_from_the_first_environment_before_the_rollout(
    tmp_path, empty_store, monkeypatch
) -> None:
    """The source client ignores AZURE_ML_WORKSPACE (it names the target in CI); the rollout
    only starts once the version is in the target; a refusal is one line, exit code 1."""
    project = azure_project(tmp_path / "project", empty_store)
    first, *later = workspace.infra_environments(project)
    if not later:
        pytest.skip("one environment: nothing to promote to")
    monkeypatch.chdir(project)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    monkeypatch.setenv("AZURE_ML_WORKSPACE", "mlw-prod")
    source, target = workspaces(tmp_path)
    asked: list[tuple[str | None, str | None]] = []

    def client(settings, environment=None):
        import os

        asked.append((environment, os.environ.get("AZURE_ML_WORKSPACE")))
        return {first: source, later[-1]: target}[environment]

    rolled: list[str] = []

    def roll_out(client, settings, environment, version, log):
        rolled.append(version)
        assert (MODEL, version) in client.models.stored
        raise PipelineError("stopped here: the rollout is tested elsewhere")

    monkeypatch.setattr(workspace, "ml_client", client)
    monkeypatch.setattr(deploy_cli, "roll_out", roll_out)
    runner = CliRunner()
    promote = ["azure", "deploy", "--environment", later[-1], "--version", "3"]
    result = runner.invoke(app, promote)
    assert "copied mlw-dev -> mlw-prod" in result.output
    assert rolled == ["3"] and len(target.models.registered) == 1
    assert asked == [(later[-1], "mlw-prod"), (first, None)]
    result = runner.invoke(app, [*promote[:-1], "9"])
    assert result.exit_code == 1 and rolled == ["3"]
    assert "v9 is not in workspace mlw-dev" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, [*promote, "--from-environment", "x"])
    assert result.exit_code == 1 and "--from-environment 'x'" in result.output
