"""Validate every answer before anything is written.

Cookiecutter deletes the half-made project folder when this hook exits non-zero, so a bad
answer costs the user nothing but a clear message naming the option, the value and the rule.
The naming limits here are what keep every derived Azure resource name valid for every
environment (see the project's infra/naming.py, checked by tests/test_resource_names.py).
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import keyword
import os
import re
import sys
from pathlib import Path
from types import ModuleType

PROJECT_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
PACKAGE_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
RESOURCE_PREFIX = re.compile(r"^[a-z][a-z0-9]{1,7}$")
ENVIRONMENT = re.compile(r"^[a-z][a-z0-9]{0,6}$")
MAX_ENVIRONMENTS = 5
GPU_VM_SIZE = re.compile(r"^Standard_N[A-Za-z0-9_]+$")
CPU_VM_SIZE = re.compile(r"^Standard_[A-MO-Z][A-Za-z0-9_]*$")
MAX_NODES = 100
PRODUCTION_NAMES = {"prod", "prd", "live"}
# A sensitive feature is a data column name; identifier-like names are safe in YAML, in
# MLflow metric names (fairness.<column>...) and on every command line.
SENSITIVE_FEATURE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

# What each task offers, as the project's tasks.py and families.py declare it (a template test
# checks the metrics against tasks.py). The project would refuse a mismatch too, but only when
# it first reads its settings; here the user hears it before anything is baked.
TASK_METRICS = {
    "classification": ("roc_auc", "f1", "accuracy", "precision", "recall"),
    "regression": ("rmse", "mae", "r2", "mape"),
}
FAMILY_TASKS = {
    "gradient_boosting": ("classification", "regression"),
    "random_forest": ("classification", "regression"),
    "logistic_regression": ("classification",),
    "linear_regression": ("regression",),
}

CHOICES = {
    "ci_provider": ("github", "azure-devops", "both"),
    "network_isolation": ("private", "public"),
    "task": ("classification", "regression"),
    "primary_metric": tuple(metric for metrics in TASK_METRICS.values() for metric in metrics),
    "model_family": tuple(FAMILY_TASKS),
    "use_automl": ("no", "yes"),
    # azureml-inference-server-http (the serving runtime) supports Python up to 3.12.
    "python_version": ("3.11", "3.12"),
}

# Package names that would shadow a dependency or the standard library once installed.
RESERVED_PACKAGES = frozenset(
    "azure azureml cdktf constructs mlflow sklearn pandas numpy optuna pydantic typer rich yaml "
    "pytest tests test src infra config".split()
)

AZURE_REGIONS = frozenset(
    """
    australiacentral australiacentral2 australiaeast australiasoutheast austriaeast
    belgiumcentral brazilsouth brazilsoutheast canadacentral canadaeast centralindia
    centralus chilecentral eastasia eastus eastus2 francecentral francesouth germanynorth
    germanywestcentral indonesiacentral israelcentral italynorth japaneast japanwest
    jioindiacentral jioindiawest koreacentral koreasouth malaysiawest mexicocentral
    newzealandnorth northcentralus northeurope norwayeast norwaywest polandcentral
    qatarcentral southafricanorth southafricawest southcentralus southeastasia southindia
    spaincentral swedencentral swedensouth switzerlandnorth switzerlandwest uaecentral
    uaenorth uksouth ukwest westcentralus westeurope westindia westus westus2 westus3
    """.split()
)


def problem(option: str, value: object, rule: str) -> str:
    return f"{option}={value!r} is invalid: {rule}"


def validate_naming(answers: dict) -> list[str]:
    errors = []
    if not str(answers["project_name"]).strip():
        errors.append(problem("project_name", answers["project_name"], "must not be empty"))
    slug = answers["project_slug"]
    if not PROJECT_SLUG.match(slug) or "--" in slug:
        errors.append(
            problem(
                "project_slug",
                slug,
                "use 3-40 lowercase letters, digits and single hyphens, starting with a letter "
                "and not ending with a hyphen (e.g. 'customer-churn')",
            )
        )
    package = answers["package_name"]
    if not PACKAGE_NAME.match(package) or keyword.iskeyword(package):
        errors.append(
            problem(
                "package_name",
                package,
                "must be a Python identifier of 2-40 lowercase letters, digits and underscores, "
                "starting with a letter (e.g. 'customer_churn')",
            )
        )
    elif package in RESERVED_PACKAGES or package in sys.stdlib_module_names:
        errors.append(
            problem(
                "package_name",
                package,
                "would shadow a standard-library module or a dependency; "
                "pick a project-specific name",
            )
        )
    for option in ("project_name", "description", "author_name"):
        value = str(answers[option])
        if not value.strip() and option == "project_name":
            continue  # reported above
        if not value.strip() or not value.isprintable():
            errors.append(
                problem(
                    option,
                    answers[option],
                    "must be a single non-empty line of printable characters (no line breaks, "
                    "tabs or control characters); quotes and backslashes are fine",
                )
            )
    return errors


def validate_azure(answers: dict) -> list[str]:
    errors = []
    location = answers["azure_location"]
    if location not in AZURE_REGIONS:
        close = difflib.get_close_matches(
            str(location).lower().replace(" ", ""), sorted(AZURE_REGIONS), 1
        )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        errors.append(
            problem(
                "azure_location",
                location,
                f"must be an Azure region name such as 'westeurope' or 'eastus2'{hint}",
            )
        )
    prefix = answers["resource_prefix"]
    if not RESOURCE_PREFIX.match(prefix):
        errors.append(
            problem(
                "resource_prefix",
                prefix,
                "use 2-8 lowercase letters or digits, starting with a letter: it starts every "
                "Azure resource name, and storage account and registry names allow nothing else",
            )
        )
    environments = [env.strip() for env in str(answers["environments"]).split(",")]
    bad = [env for env in environments if not ENVIRONMENT.match(env)]
    if bad:
        errors.append(
            problem(
                "environments",
                answers["environments"],
                f"{', '.join(repr(env) for env in bad)}: each environment must be 1-7 lowercase "
                "letters or digits starting with a letter, comma-separated (e.g. 'dev,prod')",
            )
        )
    elif len(set(environments)) != len(environments):
        errors.append(problem("environments", answers["environments"], "names must be unique"))
    elif len(environments) > MAX_ENVIRONMENTS:
        errors.append(
            problem(
                "environments",
                answers["environments"],
                f"at most {MAX_ENVIRONMENTS} environments",
            )
        )
    return errors


def validate_compute(answers: dict) -> list[str]:
    errors = []
    if not GPU_VM_SIZE.match(answers["gpu_vm_size"]):
        errors.append(
            problem(
                "gpu_vm_size",
                answers["gpu_vm_size"],
                "must be a GPU (N-series) Azure VM size such as 'Standard_NC4as_T4_v3'",
            )
        )
    if not CPU_VM_SIZE.match(answers["cpu_vm_size"]):
        errors.append(
            problem(
                "cpu_vm_size",
                answers["cpu_vm_size"],
                "must be a non-GPU Azure VM size such as 'Standard_D4s_v3'",
            )
        )
    for option in ("gpu_max_nodes", "cpu_max_nodes"):
        value = str(answers[option]).strip()
        if not value.isdigit() or not 1 <= int(value) <= MAX_NODES:
            errors.append(
                problem(
                    option,
                    answers[option],
                    f"must be a whole number from 1 to {MAX_NODES} (clusters scale down to 0 "
                    "when idle; the maximum bounds cost and quota)",
                )
            )
    return errors


def validate_choices(answers: dict) -> list[str]:
    return [
        problem(option, answers[option], f"must be one of {', '.join(allowed)}")
        for option, allowed in CHOICES.items()
        if answers[option] not in allowed
    ]


def spoken_list(names: list[str] | tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def validate_task(answers: dict) -> list[str]:
    """The primary metric and the model family must serve the task (a metric or family outside
    the choices is reported by validate_choices)."""
    task = answers["task"]
    if task not in TASK_METRICS:
        return []
    errors = []
    metric = answers["primary_metric"]
    other = next((name for name, metrics in TASK_METRICS.items() if metric in metrics), None)
    if other is not None and other != task:
        errors.append(
            problem(
                "primary_metric",
                metric,
                f"a {other} metric, but task is {task}: use {spoken_list(TASK_METRICS[task])}",
            )
        )
    family = answers["model_family"]
    if family in FAMILY_TASKS and task not in FAMILY_TASKS[family]:
        fitting = [name for name, tasks in FAMILY_TASKS.items() if task in tasks]
        errors.append(
            problem(
                "model_family",
                family,
                f"{spoken_list(FAMILY_TASKS[family])} only, but task is {task}: use "
                f"{spoken_list(fitting)}",
            )
        )
    return errors


def validate_combinations(answers: dict) -> list[str]:
    """Reject combinations that are valid one by one but unsafe or unsupported together."""
    errors = validate_task(answers)
    environments = [env.strip() for env in str(answers["environments"]).split(",")]
    production = [env for env in environments if env in PRODUCTION_NAMES]
    if answers["network_isolation"] == "public" and production:
        errors.append(
            problem(
                "network_isolation",
                "public",
                f"is a sandbox setting, but environments include {production[0]!r}; use 'private' "
                "for production, or bake the sandbox with non-production environments only",
            )
        )
    return errors


def sensitive_features(answers: dict) -> list[str]:
    """The answer as column names; `none` (any case) means no fairness report."""
    value = str(answers["sensitive_features"]).strip()
    return [] if value.lower() == "none" else [name.strip() for name in value.split(",")]


def validate_fairness(answers: dict) -> list[str]:
    names = sensitive_features(answers)
    bad = [name for name in names if not SENSITIVE_FEATURE.match(name)]
    if bad:
        return [
            problem(
                "sensitive_features",
                answers["sensitive_features"],
                f"{', '.join(repr(name) for name in bad)}: each must be a column name of "
                "letters, digits and underscores, not starting with a digit (at most 64), "
                "comma-separated (e.g. 'age,contract'), or 'none'",
            )
        ]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        return [
            problem(
                "sensitive_features",
                answers["sensitive_features"],
                f"{', '.join(repr(name) for name in repeated)} named more than once",
            )
        ]
    return []


def sample_data_warnings(answers: dict) -> list[str]:
    """Columns the shipped sample data lacks: allowed (the project is for your data), but the
    pipeline refuses them until data.path points at data that has them. A regression bake
    ships data/sample_regression.csv as its data/sample.csv (post_gen_project.py)."""
    name = "sample_regression.csv" if answers["task"] == "regression" else "sample.csv"
    for template_dir in template_candidates(answers):
        samples = sorted(template_dir.glob(f"*cookiecutter.project_slug*/data/{name}"))
        if samples:
            break
    else:
        return []
    with samples[0].open() as sample:
        columns = sample.readline().strip().split(",")
    absent = [name for name in sensitive_features(answers) if name not in columns]
    if not absent:
        return []
    return [
        f"sensitive_features={answers['sensitive_features']!r}: "
        f"{', '.join(repr(name) for name in absent)} not in the shipped data/sample.csv, so "
        "`run` on the sample refuses it until data.path points at data that has it"
    ]


# --- infrastructure answers (region capabilities, address plan, budget) ----------------------
# The region table and the address plan live in the project template's infra package, read by
# the stacks too (one definition); they are standard-library modules loaded from the template.
BUDGET_EMAIL = re.compile(r"^[^@\s\"',;<>{}\\]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
MAX_BUDGET = 1_000_000


def template_candidates(answers: dict) -> list[Path]:
    """Where the template may be: cookiecutter's `_repo_dir` (relative to the directory it was
    started in when the user gave a relative path), the hook runner's working directory (the
    template, on Linux), and this file's folder (unit tests load the hook from the template)."""
    repo_dir = Path(str(answers.get("_repo_dir") or "."))
    candidates = [repo_dir]
    if not repo_dir.is_absolute():
        candidates.append(Path(os.environ.get("PWD", ".")) / repo_dir)
    candidates += [Path(f"/proc/{os.getppid()}/cwd"), Path(__file__).resolve().parents[1]]
    return candidates


def project_infra_module(answers: dict, name: str) -> ModuleType:
    """Load `mlops_infra/<name>.py`, standard library only, from the project template."""
    for template_dir in template_candidates(answers):
        paths = sorted(
            template_dir.glob(f"*cookiecutter.project_slug*/infra/mlops_infra/{name}.py")
        )
        if paths:
            break
    else:
        raise SystemExit(f"ERROR: the template is incomplete: mlops_infra/{name}.py not found")
    spec = importlib.util.spec_from_file_location(f"template_infra_{name}", paths[0])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _valid_environments(answers: dict) -> list[str] | None:
    environments = [env.strip() for env in str(answers["environments"]).split(",")]
    if all(ENVIRONMENT.match(env) for env in environments) and len(set(environments)) == len(
        environments
    ):
        return environments
    return None  # validate_azure reports it


def validate_region_capabilities(answers: dict) -> list[str]:
    """Storage redundancy the chosen region cannot give fails here, not at apply time."""
    regions = project_infra_module(answers, "regions")
    requested = answers["storage_redundancy"]
    if requested not in regions.REDUNDANCY_CHOICES:
        return [
            problem(
                "storage_redundancy",
                requested,
                f"must be one of {', '.join(regions.REDUNDANCY_CHOICES)}",
            )
        ]
    if answers["azure_location"] not in regions.REGIONS:
        return []  # validate_azure reports it
    try:
        regions.storage_redundancy(answers["azure_location"], requested)
    except ValueError as error:
        return [problem("storage_redundancy", requested, str(error))]
    return []


def region_warnings(answers: dict) -> list[str]:
    """What the region cannot give (no zones, no pair): allowed, but said before baking."""
    regions = project_infra_module(answers, "regions")
    if answers["azure_location"] not in regions.REGIONS:
        return []
    return [
        f"azure_location={answers['azure_location']!r}: {text}"
        for text in regions.consequences(answers["azure_location"])
    ]


def validate_address_space(answers: dict) -> list[str]:
    environments = _valid_environments(answers)
    if environments is None:
        return []
    address_plan = project_infra_module(answers, "address_plan")
    try:
        address_plan.plan(answers["address_space"], environments)
    except address_plan.AddressPlanError as error:
        return [problem("address_space", answers["address_space"], str(error))]
    return []


def validate_budget(answers: dict) -> list[str]:
    errors = []
    amount = str(answers["budget_amount"]).strip()
    if not amount.isdigit() or not 1 <= int(amount) <= MAX_BUDGET:
        errors.append(
            problem(
                "budget_amount",
                answers["budget_amount"],
                f"must be a whole number from 1 to {MAX_BUDGET} (the monthly budget per "
                "environment, in the subscription's billing currency)",
            )
        )
    if not BUDGET_EMAIL.match(str(answers["budget_contact_email"])):
        errors.append(
            problem(
                "budget_contact_email",
                answers["budget_contact_email"],
                "must be one e-mail address such as 'mlops-team@contoso.com' (budget alerts "
                "go there)",
            )
        )
    return errors


def validate_infrastructure(answers: dict) -> list[str]:
    return (
        validate_region_capabilities(answers)
        + validate_address_space(answers)
        + validate_budget(answers)
    )


def validate(answers: dict) -> list[str]:
    """Every problem at once, so the user fixes them in one go."""
    return (
        validate_naming(answers)
        + validate_azure(answers)
        + validate_compute(answers)
        + validate_choices(answers)
        + validate_combinations(answers)
        + validate_fairness(answers)
        + validate_infrastructure(answers)
    )


def main(raw_answers: str = r"""{{ cookiecutter | jsonify }}""") -> int:
    answers = json.loads(raw_answers)
    errors = validate(answers)
    if not errors:
        for warning in region_warnings(answers) + sample_data_warnings(answers):
            print(f"WARNING: {warning}", file=sys.stderr)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        print(
            "Nothing was generated. Fix the answers above and run cookiecutter again.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
