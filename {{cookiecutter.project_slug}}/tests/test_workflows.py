"""The CI/CD definitions keep their promises: the same stages in both providers, OIDC only,
least privilege, timeouts, one deployment per environment at a time, and later environments
deploying exactly the version the gate promoted upstream.

Runs on whichever providers this project was baked with (GitHub Actions, Azure DevOps, or both).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
AZURE_PIPELINE = PROJECT_DIR / "azure-pipelines.yml"
AZURE_TEMPLATES = PROJECT_DIR / ".azure-pipelines"
HAS_GITHUB = WORKFLOWS.is_dir()
HAS_AZURE_DEVOPS = AZURE_PIPELINE.is_file()
ENVIRONMENTS = [
    env.strip()
    for env in json.loads((PROJECT_DIR / "infra" / "settings.json").read_text())[
        "environments"
    ].split(",")
]
PACKAGE = next(path.parent.name for path in (PROJECT_DIR / "src").glob("*/__init__.py"))
SLUG = json.loads((PROJECT_DIR / "infra" / "settings.json").read_text())["project_slug"]

# The `<package> azure ...` flags fixed by the shared contract (what issues 9 and 10 implement).
AZURE_FLAGS = {
    "setup": {"--environment"},
    "submit": {"--environment", "--wait", "--timeout-minutes", "--summary"},
    "deploy": {
        "--environment",
        "--version",
        "--digest",
        "--model-package",
        "--from-environment",
        "--summary",
    },
    "export-model": {"--environment", "--version", "--digest", "--output"},
    "mark-champion": {"--environment", "--version", "--digest"},
    "rollback": {"--environment"},
    "schedule": {"--environment", "--disable"},
}
# Anything that looks like a credential or the legacy secret-based login.
SECRET_PATTERNS = [
    r"secrets\.",
    r"client[-_]secret",
    r"AZURE_CREDENTIALS",
    r"ARM_CLIENT_SECRET",
    r"ARM_ACCESS_KEY",
    r"\bcreds\s*:",
    r"password",
    r"access[-_]key",
]
FIRST, *LATER = ENVIRONMENTS
# After the production rollout the training workspace's champion follows (azure mark-champion);
# with one environment its own rollout promotes, so there is no such stage.
CHAMPION = ["champion"] if LATER else []
RELEASE_STAGES = [
    "checks",
    "provision",
    "train",
    *[f"deploy_{env}" for env in ENVIRONMENTS],
    *CHAMPION,
]
# Azure DevOps holds an exclusive lock per stage: the first environment's provision, train and
# deploy jobs share one stage, so one lock covers the whole run there.
AZURE_RELEASE_STAGES = [
    "checks",
    f"release_{FIRST}",
    *[f"deploy_{env}" for env in LATER],
    *[f"champion_{FIRST}" for _ in CHAMPION],
]

needs_github = pytest.mark.skipif(not HAS_GITHUB, reason="baked without GitHub Actions")
needs_azure_devops = pytest.mark.skipif(not HAS_AZURE_DEVOPS, reason="baked without Azure DevOps")


def gh(expression: str) -> str:
    """A GitHub Actions (or Azure Pipelines template) expression, spelled so that the
    template's Jinja leaves it alone."""
    return "${" + "{ " + expression + " }" + "}"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict) -> dict:
    """The `on:` block (YAML 1.1 reads a bare `on` key as the boolean True)."""
    return workflow.get("on", workflow.get(True))


def github_workflows() -> dict[str, dict]:
    return {path.stem: load(path) for path in sorted(WORKFLOWS.glob("*.yml"))}


def github_jobs() -> list[tuple[str, str, dict]]:
    """(workflow, job id, job) for every job of every workflow."""
    return [
        (name, job_id, job)
        for name, workflow in github_workflows().items()
        for job_id, job in workflow["jobs"].items()
    ]


def logs_in(job: dict) -> bool:
    """Talks to Azure: may request GitHub OIDC tokens (there is no one-off `azure/login`)."""
    return job.get("permissions", {}).get("id-token") == "write"


def azure_stages() -> list[dict]:
    return load(AZURE_PIPELINE)["stages"]


def azure_jobs() -> list[tuple[str, dict]]:
    return [(stage["stage"], job) for stage in azure_stages() for job in stage["jobs"]]


def azure_stage(name: str) -> dict:
    (stage,) = [stage for stage in azure_stages() if stage["stage"] == name]
    return stage


def azure_deployment(stage: str, name: str) -> dict:
    (job,) = [job for job in azure_stage(stage)["jobs"] if job.get("deployment") == name]
    return job


def azure_release_jobs() -> list[str]:
    """The release's deployment jobs in order, named like the GitHub jobs."""
    names = []
    for stage, job in azure_jobs():
        if "deployment" not in job or stage == "redeploy":
            continue
        name = job["deployment"]
        names.append(f"deploy_{job['environment']}" if name == "deploy" else name)
    return names


def azure_job_steps(job: dict) -> list[dict]:
    if "strategy" in job:
        return job["strategy"]["runOnce"]["deploy"]["steps"]
    return job["steps"]


def azure_service_connections(job: dict) -> list[str]:
    return [
        step["parameters"]["serviceConnection"]
        for step in azure_job_steps(job)
        if step.get("template") == ".azure-pipelines/azure.yml"
    ]


def commands() -> list[str]:
    """Every shell command the pipelines run (GitHub `run:`, Azure DevOps scripts)."""
    found = []
    if HAS_GITHUB:
        found += [
            step["run"]
            for _, _, job in github_jobs()
            for step in job.get("steps", [])
            if "run" in step
        ]
    if HAS_AZURE_DEVOPS:
        for _, job in azure_jobs():
            for step in azure_job_steps(job):
                if "script" in step:
                    found.append(step["script"])
                if step.get("template") == ".azure-pipelines/azure.yml":
                    found.append(step["parameters"]["script"])
    return found


def pipeline_texts() -> dict[str, str]:
    paths = [*WORKFLOWS.glob("*.yml")] if HAS_GITHUB else []
    if HAS_AZURE_DEVOPS:
        paths += [AZURE_PIPELINE, *AZURE_TEMPLATES.glob("*.yml")]
    return {path.name: path.read_text() for path in paths}


def test_this_project_has_ci():
    assert HAS_GITHUB or HAS_AZURE_DEVOPS


# --- GitHub Actions --------------------------------------------------------------------------


@needs_github
def test_github_release_stages_run_in_order():
    cd = github_workflows()["cd"]
    assert triggers(cd) == {"push": {"branches": ["main"]}}
    jobs = cd["jobs"]
    order = list(jobs)
    assert [job_id.replace("-", "_") for job_id in order] == RELEASE_STAGES
    for previous, job_id in itertools.pairwise(order):
        needs = jobs[job_id]["needs"]
        assert previous in needs, f"{job_id} must wait for {previous}"
    assert jobs["checks"]["uses"] == "./.github/workflows/ci.yml"


@needs_github
def test_github_pull_requests_run_checks_without_credentials():
    ci = github_workflows()["ci"]
    assert set(triggers(ci)) == {"pull_request", "workflow_call"}
    for job_id, job in ci["jobs"].items():
        assert not logs_in(job), f"ci.yml/{job_id} must not log in to Azure"
        assert "id-token" not in job.get("permissions", {}), job_id
        assert "environment" not in job, job_id
    runs = [step["run"] for job in ci["jobs"].values() for step in job["steps"] if "run" in step]
    assert {"make lint", "make test", "make smoke", "make scan"} <= set(runs)


@needs_github
def test_github_only_jobs_that_log_in_may_request_an_oidc_token():
    for workflow, job_id, job in github_jobs():
        where = f"{workflow}/{job_id}"
        assert github_workflows()[workflow]["permissions"] == {}, f"{workflow}: default to none"
        permissions = job.get("permissions")
        assert permissions is not None, f"{where}: permissions must be explicit"
        assert set(permissions.values()) <= {"read", "write"}
        if "uses" in job:  # the reusable checks workflow
            assert permissions == {"contents": "read"}, where
            continue
        if logs_in(job):
            assert permissions == {"contents": "read", "id-token": "write"}, where
        else:
            assert permissions == {"contents": "read"}, where


@needs_github
def test_github_jobs_have_timeouts_and_current_runners():
    for workflow, job_id, job in github_jobs():
        if "uses" in job:
            continue  # a reusable workflow call: its own jobs have timeouts
        assert isinstance(job.get("timeout-minutes"), int), f"{workflow}/{job_id}"
        if not logs_in(job):
            assert job["runs-on"] in {"ubuntu-24.04", "ubuntu-latest"}, f"{workflow}/{job_id}"
            continue
        # A job that talks to Azure runs where the environment's runner variable says (a
        # private workspace is reachable only from inside its VNet), else on a hosted runner.
        if workflow == "redeploy":
            choices = [
                f"inputs.environment == '{env}' && vars.AZURE_RUNNER_{env.upper()}"
                for env in ENVIRONMENTS
            ]
            expected = gh(" || ".join([*choices, "'ubuntu-24.04'"]))
        else:
            expected = gh(f"vars.AZURE_RUNNER_{job['environment'].upper()} || 'ubuntu-24.04'")
        assert job["runs-on"] == expected, f"{workflow}/{job_id}"


@needs_github
def test_github_runs_hold_one_concurrency_group_for_the_whole_run():
    """Per-job groups let a later run's queued job cancel an earlier run's, and two runs
    interleave; one group per workflow run (never cancelling) does neither."""
    workflows = github_workflows()
    assert workflows["cd"]["concurrency"] == {"group": "azure-release", "cancel-in-progress": False}
    assert workflows["redeploy"]["concurrency"] == {
        "group": "azure-redeploy-" + gh("inputs.environment"),
        "cancel-in-progress": False,
    }
    for workflow, job_id, job in github_jobs():
        assert "concurrency" not in job, f"{workflow}/{job_id}: the run's group, not a job's"
        if logs_in(job):
            assert job.get("environment"), f"{workflow}/{job_id} runs in a GitHub environment"
    targets = [job.get("environment") for _, _, job in github_jobs() if logs_in(job)]
    assert set(ENVIRONMENTS) <= set(targets)


@needs_github
def test_github_azure_steps_use_credentials_that_refresh():
    """GitHub's OIDC token lives about 5 minutes: no step may rely on a login made earlier.
    Terraform (ARM_USE_OIDC) and the package (AZURE_CREDENTIAL=github) fetch fresh tokens."""
    for workflow, job_id, job in github_jobs():
        for step in job.get("steps", []):
            assert not step.get("uses", "").lower().startswith("azure/login@"), (
                f"{workflow}/{job_id}: a one-off login expires under later steps"
            )
        if not logs_in(job):
            continue
        env = job["env"]
        assert env["AZURE_CREDENTIAL"] == "github", f"{workflow}/{job_id}"
        assert env["AZURE_CLIENT_ID"] == gh("vars.AZURE_CLIENT_ID")
        assert env["AZURE_TENANT_ID"] == gh("vars.AZURE_TENANT_ID")
        runs = " ".join(step.get("run", "") for step in job["steps"])
        if "make deploy-infra" in runs or "make infra-outputs" in runs:
            assert env["ARM_USE_OIDC"] == "true", f"{workflow}/{job_id}"
    assert "about an hour" not in (WORKFLOWS / "cd.yml").read_text()


@needs_github
def test_github_later_stages_deploy_the_version_the_gate_promoted():
    jobs = github_workflows()["cd"]["jobs"]
    train = jobs["train"]
    assert train["outputs"]["version"] == gh("steps.gate.outputs.version")
    assert train["outputs"]["digest"] == gh("steps.gate.outputs.digest")
    gate = next(step for step in train["steps"] if step.get("id") == "gate")
    assert gate["run"].endswith("scripts/ci_report.py gate .ci-out/train.json")
    submits = [step["run"] for step in train["steps"] if " azure submit " in step.get("run", "")]
    assert len(submits) == 1 and "--summary .ci-out/train.json" in submits[0]
    for env in ENVIRONMENTS:
        job = jobs[f"deploy-{env}"]
        assert "train" in job["needs"]
        assert job["if"] == gh("needs.train.outputs.promoted == 'true'")
        assert job["env"]["MODEL_VERSION"] == gh("needs.train.outputs.version")
        assert job["env"]["MODEL_DIGEST"] == gh("needs.train.outputs.digest")
        runs = " ".join(step.get("run", "") for step in job["steps"])
        assert " azure submit" not in runs, f"deploy-{env} must never retrain"
        assert f'azure deploy --environment {env} --version "$MODEL_VERSION"' in runs
        assert '--version "$MODEL_VERSION" --digest "$MODEL_DIGEST"' in runs


@needs_github
def test_github_later_environments_get_the_model_as_a_package():
    """The first environment's identity exports the promoted model; each later environment's
    job downloads that artifact and registers it, never reading the first workspace."""
    jobs = github_workflows()["cd"]["jobs"]
    first, *later = ENVIRONMENTS
    steps = jobs["train"]["steps"]
    exports = [step for step in steps if " azure export-model " in step.get("run", "")]
    uploads = [
        step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@")
    ]
    if not later:
        assert exports == [] and uploads == []
        return
    (export,), (upload,) = exports, uploads
    assert steps.index(export) < steps.index(upload)
    assert f"--environment {first} " in export["run"]
    assert export["env"] == {
        "MODEL_VERSION": gh("steps.gate.outputs.version"),
        "MODEL_DIGEST": gh("steps.gate.outputs.digest"),
    }
    assert '--digest "$MODEL_DIGEST" --output "$RUNNER_TEMP/model-package"' in export["run"]
    promoted = gh("steps.gate.outputs.promoted == 'true'")
    assert export["if"] == upload["if"] == promoted
    assert upload["with"]["name"] == "model-package"
    assert upload["with"]["path"] == gh("runner.temp") + "/model-package"
    assert upload["with"]["if-no-files-found"] == "error"
    assert upload["with"]["overwrite"] is True, "a re-run of train must replace its package"
    for env in later:
        job_steps = jobs[f"deploy-{env}"]["steps"]
        (download,) = [
            step
            for step in job_steps
            if step.get("uses", "").startswith("actions/download-artifact@")
        ]
        assert download["with"] == {"name": "model-package", "path": upload["with"]["path"]}
        (deploy,) = [step for step in job_steps if " azure deploy " in step.get("run", "")]
        assert job_steps.index(download) < job_steps.index(deploy)
        assert '--model-package "$RUNNER_TEMP/model-package"' in deploy["run"]
    runs = [step.get("run", "") for _, _, job in github_jobs() for step in job.get("steps", [])]
    assert sum(" azure export-model " in run for run in runs) == 1


@needs_github
def test_github_manual_redeploy_offers_every_environment():
    redeploy = github_workflows()["redeploy"]
    inputs = triggers(redeploy)["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["options"] == ENVIRONMENTS
    assert inputs["action"]["options"] == ["deploy", "rollback"]
    (job,) = redeploy["jobs"].values()
    assert job["environment"] == gh("inputs.environment")
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert "make deploy-infra" not in runs and "azure submit" not in runs
    # Only what that environment's workspace already holds: its identity reads no other.
    assert '--from-environment "$DEPLOY_ENVIRONMENT"' in runs


@needs_github
def test_github_actions_are_pinned_to_commit_shas():
    for workflow, job_id, job in github_jobs():
        for step in job.get("steps", []):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), (
                    f"{workflow}/{job_id}: {step['uses']}"
                )


# --- Azure DevOps ----------------------------------------------------------------------------


@needs_azure_devops
def test_azure_devops_stages_run_in_order():
    stages = azure_stages()
    names = [stage["stage"] for stage in stages]
    assert names == [*AZURE_RELEASE_STAGES, "redeploy"]
    by_name = {stage["stage"]: stage for stage in stages}
    for previous, name in itertools.pairwise(AZURE_RELEASE_STAGES):
        depends = by_name[name]["dependsOn"]
        depends = [depends] if isinstance(depends, str) else depends
        assert previous in depends, f"{name} must wait for {previous}"
    assert by_name["redeploy"]["dependsOn"] == []
    assert azure_release_jobs() == RELEASE_STAGES[1:]
    release = f"release_{FIRST}"
    assert azure_deployment(release, "train")["dependsOn"] == "provision"
    assert "train" in azure_deployment(release, "deploy")["dependsOn"]


@needs_azure_devops
def test_azure_devops_each_run_holds_one_lock_per_environment():
    """A lock lasts one stage: every stage that touches Azure touches one environment, and
    each environment is touched by one stage of the release (provision, train and deploy of
    the first environment share a stage), so two runs never interleave in an environment."""
    touched = []
    for stage in azure_stages():
        environments = {job["environment"] for job in stage["jobs"] if "deployment" in job}
        if not environments:
            continue
        assert len(environments) == 1, stage["stage"]
        assert stage["lockBehavior"] == "sequential", stage["stage"]
        if stage["stage"] != "redeploy":
            touched += environments
    # The champion stage comes back to the first environment after production, only to move
    # its champion tag by digest.
    assert touched == [*ENVIRONMENTS, *[FIRST for _ in CHAMPION]]


@needs_github
def test_github_marks_the_production_version_champion_in_the_training_workspace():
    """The next run's gate compares with what production serves (docs/deployment.md)."""
    jobs = github_workflows()["cd"]["jobs"]
    if not LATER:
        assert "champion" not in jobs  # the one environment's rollout promotes there itself
        return
    job = jobs["champion"]
    assert f"deploy-{ENVIRONMENTS[-1]}" in job["needs"] and "train" in job["needs"]
    assert job["environment"] == FIRST and logs_in(job)
    assert job["env"]["MODEL_VERSION"] == gh("needs.train.outputs.version")
    assert job["env"]["MODEL_DIGEST"] == gh("needs.train.outputs.digest")
    (run,) = [step["run"] for step in job["steps"] if "mark-champion" in step.get("run", "")]
    assert f"--environment {FIRST}" in run and '--digest "$MODEL_DIGEST"' in run


@needs_azure_devops
def test_azure_devops_marks_the_production_version_champion_in_the_training_workspace():
    names = [stage["stage"] for stage in azure_stages()]
    if not LATER:
        assert not any(name.startswith("champion") for name in names)
        return
    stage = azure_stage(f"champion_{FIRST}")
    assert f"deploy_{ENVIRONMENTS[-1]}" in stage["dependsOn"]
    job = azure_deployment(f"champion_{FIRST}", "champion")
    assert job["environment"] == FIRST
    assert azure_service_connections(job) == [f"azure-{SLUG}-{FIRST}"]
    variables = {v["name"]: v["value"] for v in stage["variables"] if "name" in v}
    assert "train.gate.version" in variables["MODEL_VERSION"]
    assert "train.gate.digest" in variables["MODEL_DIGEST"]


@needs_azure_devops
def test_azure_devops_checks_use_no_service_connection():
    (checks,) = [stage for stage in azure_stages() if stage["stage"] == "checks"]
    scripts = []
    for job in checks["jobs"]:
        assert "deployment" not in job and not azure_service_connections(job)
        scripts += [step["script"] for step in job["steps"] if "script" in step]
    assert {"make lint", "make test", "make smoke", "make scan"} <= set(scripts)


@needs_azure_devops
def test_azure_devops_jobs_that_log_in_are_deployments_to_their_environment():
    for stage, job in azure_jobs():
        assert isinstance(job.get("timeoutInMinutes"), int), f"{stage}: every job has a timeout"
        assert job["timeoutInMinutes"] <= 60, f"{stage}: hosted agents stop jobs at 60 minutes"
        connections = azure_service_connections(job)
        if not connections:
            continue
        assert "deployment" in job, f"{stage}: a job that logs in must be a deployment job"
        environment = job["environment"]
        assert set(connections) == {f"azure-{SLUG}-{environment}"}, stage
        (owning_stage,) = [s for s in azure_stages() if s["stage"] == stage]
        assert owning_stage["lockBehavior"] == "sequential", stage
    deployed = {job["environment"] for _, job in azure_jobs() if "deployment" in job}
    assert set(ENVIRONMENTS) <= deployed


@needs_azure_devops
def test_azure_devops_later_stages_deploy_the_version_the_gate_promoted():
    release = f"release_{FIRST}"
    train = azure_deployment(release, "train")
    gate = next(step for step in azure_job_steps(train) if step.get("name") == "gate")
    assert gate["script"].endswith("scripts/ci_report.py gate .ci-out/train.json")
    for env in ENVIRONMENTS:
        if env == FIRST:
            job = azure_deployment(release, "deploy")
            assert "train" in job["dependsOn"]
            assert job["condition"] == (
                "and(succeeded(), eq(dependencies.train.outputs['train.gate.promoted'], 'true'))"
            )
            variables = {v["name"]: v["value"] for v in job["variables"]}
            source = "dependencies.train.outputs"
        else:
            stage = azure_stage(f"deploy_{env}")
            assert release in stage["dependsOn"]
            assert (
                f"dependencies.{release}.outputs['train.train.gate.promoted'], 'true'"
                in (stage["condition"])
            )
            variables = {v["name"]: v["value"] for v in stage["variables"] if "name" in v}
            source = f"stageDependencies.{release}.train.outputs"
            (job,) = stage["jobs"]
        assert variables["MODEL_VERSION"] == f"$[ {source}['train.gate.version'] ]"
        assert variables["MODEL_DIGEST"] == f"$[ {source}['train.gate.digest'] ]"
        scripts = " ".join(
            step.get("script", "") + step.get("parameters", {}).get("script", "")
            for step in azure_job_steps(job)
        )
        assert " azure submit" not in scripts, f"deploy_{env} must never retrain"
        assert f'azure deploy --environment {env} --version "$MODEL_VERSION"' in scripts
        assert '--version "$MODEL_VERSION" --digest "$MODEL_DIGEST"' in scripts


@needs_azure_devops
def test_azure_devops_later_environments_get_the_model_as_a_package():
    first, *later = ENVIRONMENTS
    train = azure_deployment(f"release_{first}", "train")
    steps = azure_job_steps(train)
    exports = [
        step
        for step in steps
        if " azure export-model " in step.get("parameters", {}).get("script", "")
    ]
    publishes = [step for step in steps if "publish" in step]
    if not later:
        assert exports == [] and publishes == []
        return
    (export,), (publish,) = exports, publishes
    assert steps.index(export) < steps.index(publish)
    assert steps[-1] is publish, "a re-run after the publish would clash with its artifact"
    script = export["parameters"]["script"]
    assert export["parameters"]["serviceConnection"] == f"azure-{SLUG}-{first}"
    assert '--version "$(gate.version)"' in script and '--digest "$(gate.digest)"' in script
    assert '--output "$PIPELINE_WORKSPACE/model-package"' in script
    promoted = "and(succeeded(), eq(variables['gate.promoted'], 'true'))"
    assert export["parameters"]["condition"] == publish["condition"] == promoted
    assert (publish["publish"], publish["artifact"]) == (
        "$(Pipeline.Workspace)/model-package",
        "model-package",
    )
    for env in ENVIRONMENTS:
        if env == first:
            job = azure_deployment(f"release_{first}", "deploy")
        else:
            (job,) = azure_stage(f"deploy_{env}")["jobs"]
        job_steps = azure_job_steps(job)
        downloads = [step for step in job_steps if "download" in step]
        (deploy,) = [
            step
            for step in job_steps
            if " azure deploy " in step.get("parameters", {}).get("script", "")
        ]
        if env == first:
            assert downloads == [{"download": "none"}]
            assert "--model-package" not in deploy["parameters"]["script"]
            continue
        (download,) = downloads
        assert (download["download"], download["artifact"]) == ("current", "model-package")
        assert job_steps.index(download) < job_steps.index(deploy)
        assert (
            '--model-package "$PIPELINE_WORKSPACE/model-package"' in deploy["parameters"]["script"]
        )


@needs_azure_devops
def test_azure_devops_manual_run_offers_every_environment():
    parameters = {p["name"]: p for p in load(AZURE_PIPELINE)["parameters"]}
    assert parameters["environment"]["values"] == ENVIRONMENTS
    assert parameters["action"]["values"] == ["release", "deploy", "rollback"]
    (redeploy,) = [stage for stage in azure_stages() if stage["stage"] == "redeploy"]
    (job,) = redeploy["jobs"]
    scripts = " ".join(
        step.get("parameters", {}).get("script", "") for step in azure_job_steps(job)
    )
    assert '--from-environment "$DEPLOY_ENVIRONMENT"' in scripts
    assert "make deploy-infra" not in scripts and "azure submit" not in scripts


@needs_azure_devops
def test_azure_devops_uses_no_retired_image_and_fails_loudly():
    pipeline = load(AZURE_PIPELINE)
    assert pipeline["pool"]["vmImage"] in {"ubuntu-24.04", "ubuntu-latest"}
    parameters = {p["name"]: p for p in pipeline["parameters"]}
    for env in ENVIRONMENTS:
        assert parameters[f"pool_{env}"]["default"] == "hosted"
    # A stage that talks to Azure runs in its environment's pool parameter: hosted, or a pool
    # inside the environment's VNet (a private workspace is reachable only from there).
    for stage in azure_stages():
        deployments = [job for job in stage["jobs"] if "deployment" in job]
        if not deployments:
            assert "pool" not in stage, stage["stage"]
            continue
        job = deployments[0]
        name = (
            "parameters[format('pool_{0}', parameters.environment)]"
            if stage["stage"] == "redeploy"
            else f"parameters.pool_{job['environment']}"
        )
        assert stage["pool"] == {
            gh(f"if eq({name}, 'hosted')"): {"vmImage": "ubuntu-24.04"},
            gh("else"): {"name": gh(name)},
        }, stage["stage"]
    for stage, job in azure_jobs():
        for step in azure_job_steps(job):
            assert not step.get("continueOnError"), f"{stage}: failures must fail the run"


# --- Both ------------------------------------------------------------------------------------


@pytest.mark.skipif(not (HAS_GITHUB and HAS_AZURE_DEVOPS), reason="needs both providers")
def test_both_providers_have_the_same_stages():
    github = [job_id.replace("-", "_") for job_id in github_workflows()["cd"]["jobs"]]
    assert github == ["checks", *azure_release_jobs()]
    github_targets = [
        job["environment"]
        for workflow, _, job in github_jobs()
        if workflow == "cd" and logs_in(job)
    ]
    azure_targets = [
        job["environment"]
        for stage, job in azure_jobs()
        if "deployment" in job and stage != "redeploy"
    ]
    assert github_targets == azure_targets


def test_no_secret_appears_in_any_pipeline():
    for name, text in pipeline_texts().items():
        for pattern in SECRET_PATTERNS:
            assert not re.search(pattern, text, re.IGNORECASE), f"{name}: matches {pattern}"


def test_pipelines_run_only_the_projects_own_commands():
    """Every make target exists; every `<package> azure` call uses the contract's flags."""
    makefile = (PROJECT_DIR / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    used_targets = set()
    for command in commands():
        for line in command.replace("\\\n", " ").splitlines():
            words = shlex.split(line.replace("$", "")) if line.strip() else []
            if words[:1] == ["make"]:
                used_targets.update(word for word in words[1:] if "=" not in word)
    assert used_targets and used_targets <= targets, used_targets - targets
    azure_calls = azure_calls_in_pipelines()
    assert azure_calls
    for subcommand, *arguments in azure_calls:
        flags = {word for word in arguments if word.startswith("--")}
        assert flags <= AZURE_FLAGS[subcommand], (subcommand, flags - AZURE_FLAGS[subcommand])


def azure_calls_in_pipelines() -> list[list[str]]:
    calls = []
    for command in commands():
        for line in command.replace("\\\n", " ").splitlines():
            words = shlex.split(line.replace("$", "")) if line.strip() else []
            if words[:2] == [f".venv/bin/{PACKAGE}", "azure"]:
                calls.append(words[2:])
    return calls


def test_pipeline_flags_exist_on_the_azure_commands():
    """The CLI itself declares every subcommand and flag the pipelines pass."""
    import importlib

    import typer.main

    cli = importlib.import_module(f"{PACKAGE}.cli.azure")

    group = typer.main.get_command(cli.app)
    for subcommand, *arguments in azure_calls_in_pipelines():
        command = group.commands.get(subcommand)
        assert command is not None, f"`azure {subcommand}` does not exist"
        declared = {opt for param in command.params for opt in param.opts}
        used = {word for word in arguments if word.startswith("--")}
        assert used <= declared, (subcommand, used - declared)


def test_infrastructure_deploys_refuse_local_state():
    """`make deploy-infra` / `infra-outputs` stop before cdktf when the remote state is not set:
    a CI runner's local state file would be lost with the runner."""
    state = ("TF_STATE_RESOURCE_GROUP", "TF_STATE_STORAGE_ACCOUNT", "TF_STATE_CONTAINER")
    without = {key: value for key, value in os.environ.items() if key not in state}
    refused = subprocess.run(
        ["make", "--no-print-directory", "-s", "require-remote-state"],
        cwd=PROJECT_DIR,
        env={**without, "TF_STATE_STORAGE_ACCOUNT": "sttfstate", "TF_STATE_CONTAINER": "tfstate"},
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "TF_STATE_RESOURCE_GROUP is not set" in refused.stderr
    allowed = subprocess.run(
        ["make", "--no-print-directory", "-s", "require-remote-state"],
        cwd=PROJECT_DIR,
        env={**without, **dict.fromkeys(state, "x")},
        capture_output=True,
        text=True,
    )
    assert allowed.returncode == 0, allowed.stderr
    makefile = (PROJECT_DIR / "Makefile").read_text()
    for target in ("deploy-infra", "infra-outputs"):
        (rule,) = re.findall(rf"^{target}:(.*)$", makefile, re.MULTILINE)
        assert "require-remote-state" in rule.split(), target
