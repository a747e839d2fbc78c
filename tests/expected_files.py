"""The exact set of files a bake must produce, per answers. Update it with every template change."""

from __future__ import annotations

PROJECT = {
    ".cruft.json",
    ".gitignore",
    "Makefile",
    "README.md",
    "package-lock.json",
    "package.json",
    "pyproject.toml",
    "requirements-tools.in",
    "requirements-tools.lock",
    "requirements.lock",
    "config/pipeline.yaml",
    "data/sample.csv",
    "docs/infrastructure.md",
    "docs/pipeline.md",
    "docs/serving.md",
    "scripts/actionlint.mjs",
    "scripts/ci_report.py",
    "scripts/make_sample_data.py",
}

PACKAGE = {
    "src/{package}/__init__.py",
    "src/{package}/__main__.py",
    "src/{package}/automl.py",
    "src/{package}/cli.py",
    "src/{package}/config.py",
    "src/{package}/data.py",
    "src/{package}/errors.py",
    "src/{package}/evaluate.py",
    "src/{package}/lineage.py",
    "src/{package}/pipeline.py",
    "src/{package}/registry.py",
    "src/{package}/steps.py",
    "src/{package}/tracking.py",
    "src/{package}/train.py",
    "src/{package}/serving/__init__.py",
    "src/{package}/serving/batch.py",
    "src/{package}/serving/commands.py",
    "src/{package}/serving/fastpath.py",
    "src/{package}/serving/local.py",
    "src/{package}/serving/schema.py",
    "src/{package}/serving/score.py",
    "src/{package}/serving/scoring.py",
    "src/{package}/serving/server.py",
}

TESTS_AND_BENCHMARKS = {
    "tests/conftest.py",
    "tests/serving_fixtures.py",
    "tests/test_automl.py",
    "tests/test_config.py",
    "tests/test_data.py",
    "tests/test_evaluate.py",
    "tests/test_pipeline.py",
    "tests/test_registry.py",
    "tests/test_serving_batch.py",
    "tests/test_serving_schema.py",
    "tests/test_serving_score.py",
    "tests/test_serving_server.py",
    "tests/test_train.py",
    "tests/test_ci_report.py",
    "tests/test_workflows.py",
    "benchmarks/_common.py",
    "benchmarks/batch.py",
    "benchmarks/load.py",
    "benchmarks/online.py",
}

INFRA = {
    "infra/.gitignore",
    "infra/__init__.py",
    "infra/cdktf.json",
    "infra/checkov-skips.yaml",
    "infra/main.py",
    "infra/scan.py",
    "infra/settings.json",
    "infra/mlops_infra/__init__.py",
    "infra/mlops_infra/app.py",
    "infra/mlops_infra/cdk.py",
    "infra/mlops_infra/compute.py",
    "infra/mlops_infra/config.py",
    "infra/mlops_infra/dependencies.py",
    "infra/mlops_infra/identity.py",
    "infra/mlops_infra/monitoring.py",
    "infra/mlops_infra/naming.py",
    "infra/mlops_infra/network.py",
    "infra/mlops_infra/private_endpoints.py",
    "infra/mlops_infra/stack.py",
    "infra/mlops_infra/workspace.py",
    "infra/tests/__init__.py",
    "infra/tests/conftest.py",
    "infra/tests/synthesis.py",
    "infra/tests/test_infra_config.py",
    "infra/tests/test_infra_naming.py",
    "infra/tests/test_infra_scan.py",
    "infra/tests/test_infra_stacks.py",
}

CI_FILES = {
    "github": {
        ".github/workflows/ci.yml",
        ".github/workflows/cd.yml",
        ".github/workflows/redeploy.yml",
    },
    "azure-devops": {
        "azure-pipelines.yml",
        ".azure-pipelines/azure.yml",
        ".azure-pipelines/setup.yml",
        ".azure-pipelines/terraform.yml",
    },
}


def expected_files(rendered: dict) -> set[str]:
    provider = rendered["ci_provider"]
    ci = set().union(*CI_FILES.values()) if provider == "both" else CI_FILES[provider]
    common = PROJECT | PACKAGE | TESTS_AND_BENCHMARKS | INFRA
    return {path.format(package=rendered["package_name"]) for path in common | ci}
