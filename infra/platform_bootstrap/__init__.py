"""Run once per subscription: remote state and one least-privilege CI identity per project."""

import sys
from pathlib import Path

# The state storage reuses the project stacks' hardened storage baseline (one definition):
# make the project template's Jinja-free infra package importable.
PROJECT_INFRA = Path(__file__).resolve().parents[2] / "{{cookiecutter.project_slug}}" / "infra"
if str(PROJECT_INFRA) not in sys.path:
    sys.path.append(str(PROJECT_INFRA))
