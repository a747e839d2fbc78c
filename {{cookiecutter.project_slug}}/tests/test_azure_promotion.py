"""A version travels from the training workspace to a later environment's as a model package
(`azure export-model`, then `azure deploy --model-package`), or in one go with
`--from-environment`: the copy, its idempotence, and every refusal (which registers nothing)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from azure_fixtures import FakeMLClient, azure_project
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.azure import deploy, workspace
from {{ cookiecutter.package_name }}.azure.promotion import (
    FILES,
    MANIFEST,
    export_version,
    import_version,
    promote_version,
)
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
    assert "registered in mlw-prod from mlw-dev" in said[-1]
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
    with pytest.raises(PipelineError, match="not its tag's 000000000000: nothing was exported"):
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


@dataclass
class TwoWorkspaces:
    """The CLI in front of two environments' workspaces: which environments it asked for
    (with AZURE_ML_WORKSPACE at that moment), and which versions reached the rollout."""

    first: str
    later: str
    source: FakeMLClient
    target: FakeMLClient
    asked: list[tuple[str | None, str | None]] = field(default_factory=list)
    rolled: list[str] = field(default_factory=list)


@pytest.fixture
def two_workspaces(tmp_path, empty_store, monkeypatch) -> TwoWorkspaces:
    project = azure_project(tmp_path / "project", empty_store)
    first, *later = workspace.infra_environments(project)
    if not later:
        pytest.skip("one environment: nothing to promote to")
    monkeypatch.chdir(project)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    world = TwoWorkspaces(first, later[-1], *workspaces(tmp_path))

    def client(settings, environment=None):
        world.asked.append((environment, os.environ.get("AZURE_ML_WORKSPACE")))
        return {world.first: world.source, world.later: world.target}[environment]

    def roll_out(client, settings, environment, version, digest, log):
        world.rolled.append(version)
        assert (MODEL, version) in client.models.stored
        raise PipelineError("stopped here: the rollout is tested elsewhere")

    monkeypatch.setattr(workspace, "ml_client", client)
    monkeypatch.setattr(deploy, "roll_out", roll_out)
    return world


def test_deploy_copies_from_the_first_environment_before_the_rollout(
    two_workspaces, monkeypatch
) -> None:
    """The source client ignores AZURE_ML_WORKSPACE (it names the target in CI); the rollout
    only starts once the version is in the target; a refusal is one line, exit code 1."""
    world = two_workspaces
    monkeypatch.setenv("AZURE_ML_WORKSPACE", "mlw-prod")
    runner = CliRunner()
    promote = ["azure", "deploy", "--environment", world.later, "--version", "3"]
    result = runner.invoke(app, promote)
    assert "registered in mlw-prod from mlw-dev" in result.output
    assert world.rolled == ["3"] and len(world.target.models.registered) == 1
    assert world.asked == [(world.later, "mlw-prod"), (world.first, None)]
    result = runner.invoke(app, [*promote[:-1], "9"])
    assert result.exit_code == 1 and world.rolled == ["3"]
    assert "v9 is not in workspace mlw-dev" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, [*promote, "--from-environment", "x"])
    assert result.exit_code == 1 and "--from-environment 'x'" in result.output


def test_a_package_carries_the_version_between_workspaces(tmp_path) -> None:
    """What CI does: export in the first environment's job, import in the later one's."""
    source, target = workspaces(tmp_path)
    package = tmp_path / "artifact"
    exported = export_version(source, MODEL, "3", package)
    original = source.models.get(MODEL, "3")
    assert (exported.version, exported.digest) == ("3", original.tags[DIGEST_TAG])
    assert exported.source_workspace == "mlw-dev" and (package / MANIFEST).is_file()
    said: list[str] = []
    imported = import_version(target, package, log=said.append, version="3")
    [(copy, registered_digest)] = target.models.registered
    assert imported == exported and registered_digest == exported.digest
    assert (copy.name, copy.version, copy.tags) == (MODEL, "3", original.tags)
    assert said == [f"model {MODEL} v3 registered in mlw-prod from mlw-dev"]
    import_version(target, package, log=said.append)
    assert len(target.models.registered) == 1 and "same digest" in said[-1]
    assert source.models.registered == []


def test_an_export_that_is_not_the_promoted_model_writes_nothing(tmp_path) -> None:
    source, _ = workspaces(tmp_path)
    package = tmp_path / "artifact"
    with pytest.raises(PipelineError, match="not the expected 111111111111"):
        export_version(source, MODEL, "3", package, expected_digest="1" * 64)
    assert not package.exists()
    (package / "stale").mkdir(parents=True)
    with pytest.raises(PipelineError, match="is not empty"):
        export_version(source, MODEL, "3", package)


def test_an_altered_or_foreign_package_registers_nothing(tmp_path) -> None:
    source, target = workspaces(tmp_path)
    package = tmp_path / "artifact"
    export_version(source, MODEL, "3", package)
    with pytest.raises(PipelineError, match=r"holds .* v3, not the requested v4"):
        import_version(target, package, log=print, version="4")
    with pytest.raises(PipelineError, match="not the expected 333333333333"):
        import_version(target, package, log=print, expected_digest="3" * 64)
    with pytest.raises(PipelineError, match=f"holds model {MODEL}, not another_model"):
        import_version(target, package, log=print, name="another_model")
    (package / FILES / "model.pkl").write_text("tampered on the way")
    with pytest.raises(PipelineError, match="the package was altered; nothing was registered"):
        import_version(target, package, log=print)
    (package / MANIFEST).unlink()
    with pytest.raises(PipelineError, match="is not a model package"):
        import_version(target, package, log=print)
    (package / MANIFEST).write_text("{not json")
    with pytest.raises(PipelineError, match="is not a model package manifest"):
        import_version(target, package, log=print)
    assert target.models.registered == []


def test_ci_path_export_then_deploy_never_touches_the_first_workspace_from_later_ones(
    two_workspaces, tmp_path
) -> None:
    """`azure export-model` runs with the first environment's identity; `azure deploy
    --model-package --digest` with the later one's asks for its own workspace only, refuses
    a digest that is not the gate's before any rollout, and summarizes the refusal."""
    world = two_workspaces
    first, later = world.first, world.later
    source, target, rolled = world.source, world.target, world.rolled

    def asked() -> list[str | None]:
        return [environment for environment, _ in world.asked]

    runner = CliRunner()
    digest = source.models.get(MODEL, "3").tags[DIGEST_TAG]
    package = tmp_path / "artifact"
    export = ["azure", "export-model", "--environment", first, "--version", "3"]
    result = runner.invoke(app, [*export, "--digest", digest, "--output", str(package)])
    assert result.exit_code == 0, result.output
    assert f"(digest {digest[:12]}) from mlw-dev" in result.output and asked() == [first]

    world.asked.clear()
    deploy = ["azure", "deploy", "--environment", later, "--model-package", str(package)]
    summary = tmp_path / "deploy.json"
    result = runner.invoke(app, [*deploy, "--digest", "2" * 64, "--summary", str(summary)])
    assert result.exit_code == 1 and rolled == [] and asked() == [later]
    assert "not the expected 222222222222: nothing deployed" in result.output
    assert json.loads(summary.read_text())["succeeded"] is False
    assert target.models.registered == []

    result = runner.invoke(app, [*deploy, "--version", "3", "--digest", digest])
    assert rolled == ["3"] and asked() == [later, later]
    assert len(target.models.registered) == 1 and "stopped here" in result.output
    result = runner.invoke(app, [*deploy, "--from-environment", first])
    assert result.exit_code == 1 and "not both" in result.output and rolled == ["3"]
    # Redeploying in a later environment uses only what its own workspace holds.
    own = ["azure", "deploy", "--environment", later, "--from-environment", later]
    result = runner.invoke(app, [*own, "--version", "7"])
    assert result.exit_code == 1 and rolled == ["3"] and set(asked()) == {later}
    assert "v7 is not registered in workspace mlw-prod" in result.output
    result = runner.invoke(app, [*export, "--output", str(package)])
    assert result.exit_code == 1 and "is not empty" in result.output
    in_first = ["azure", "deploy", "--environment", first, "--version", "3", "--digest"]
    result = runner.invoke(app, [*in_first, "4" * 64])
    assert result.exit_code == 1 and rolled == ["3"]
    assert "in workspace mlw-dev has digest" in result.output
    assert "not the expected 444444444444: nothing deployed" in result.output
    result = runner.invoke(app, [*in_first, digest])
    assert rolled == ["3", "3"] and source.models.registered == []


@pytest.mark.slow
def test_the_next_gate_compares_with_what_production_serves(tmp_path, empty_store, monkeypatch):
    """Two stores stand in for the training (dev) and production workspaces. The Azure ML
    pipeline's steps register v1 in dev without a champion; production promotes v1 in its own
    store; `azure mark-champion` makes v1 dev's champion, and the next gate compares with it."""
    from types import SimpleNamespace

    from mlflow import MlflowClient

    from {{ cookiecutter.package_name }} import registry
    from {{ cookiecutter.package_name }}.config import load_settings

    project = azure_project(tmp_path / "project", empty_store)
    first_environment = workspace.infra_environments(project)[0]
    monkeypatch.chdir(project)
    config = str(project / "config" / "pipeline.yaml")
    settings = load_settings(Path(config))
    runner = CliRunner()

    def steps(folder: Path, *family: str) -> tuple[dict, dict]:
        """prepare, train, evaluate, register: what the Azure ML pipeline job runs in dev."""
        calls = [
            ["prepare", "--output", folder / "prepared"],
            ["train", "--train-data", folder / "prepared/train.parquet", "--output",
             folder / "trained", *family],
            ["evaluate", "--model", folder / "trained/model", "--test-data",
             folder / "prepared/test.parquet", "--output", folder / "evaluated"],
            ["register", "--model", folder / "trained/model", "--prepared",
             folder / "prepared", "--evaluation", folder / "evaluated", "--output",
             folder / "registered"],
        ]  # fmt: skip
        for call in calls:
            result = runner.invoke(app, [*map(str, call), "--config", config])
            assert result.exit_code == 0, result.output
        evaluation = json.loads((folder / "evaluated/evaluation.json").read_text())
        return evaluation, json.loads((folder / "registered/registration.json").read_text())

    evaluation, first = steps(tmp_path / "run1")
    assert evaluation["decision"]["champion_version"] is None and first["candidate"]
    dev = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    assert registry.get_champion_version(dev, MODEL) is None  # dev's rollout promotes nothing

    prod_uri = f"sqlite:///{tmp_path / 'prod.db'}"
    prod = MlflowClient(tracking_uri=prod_uri, registry_uri=prod_uri)
    prod.create_registered_model(MODEL)
    source = dev.get_model_version_download_uri(MODEL, first["version"])
    prod.create_model_version(MODEL, source, tags={DIGEST_TAG: first["digest"]})
    registry.promote(prod, MODEL, "1", None)  # production's rollout promotes there
    assert str(registry.get_champion_version(prod, MODEL).version) == "1"

    training_workspace = SimpleNamespace(
        workspace_name="mlw-dev",
        workspaces=SimpleNamespace(
            get=lambda name: SimpleNamespace(mlflow_tracking_uri=settings.tracking_uri)
        ),
    )
    monkeypatch.setattr(
        workspace, "ml_client", lambda settings, environment=None: training_workspace
    )
    marked = runner.invoke(
        app,
        ["azure", "mark-champion", "--environment", first_environment, "--version",
         first["version"], "--digest", first["digest"], "--config", config],
    )  # fmt: skip
    assert marked.exit_code == 0, marked.output

    evaluation, second = steps(tmp_path / "run2", "--model-family", "dummy")
    assert evaluation["decision"]["champion_version"] == first["version"]
    assert evaluation["champion_digest"] == first["digest"]
    assert not second["candidate"]  # the baseline cannot beat what production serves
