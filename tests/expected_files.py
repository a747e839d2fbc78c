"""The exact set of files a bake must produce, per answers. Update it with every template change."""

from __future__ import annotations

COMMON = {
    ".cruft.json",
    ".gitignore",
    "Makefile",
    "package-lock.json",
    "package.json",
    "pyproject.toml",
    "requirements-tools.in",
    "requirements-tools.lock",
    "requirements.lock",
    "scripts/actionlint.mjs",
    "src/{package}/__init__.py",
    "src/{package}/__main__.py",
}

CI_FILES = {
    "github": {".github/workflows/ci.yml"},
    "azure-devops": {"azure-pipelines.yml"},
}


def expected_files(rendered: dict) -> set[str]:
    provider = rendered["ci_provider"]
    ci = set().union(*CI_FILES.values()) if provider == "both" else CI_FILES[provider]
    return {path.format(package=rendered["package_name"]) for path in COMMON | ci}
