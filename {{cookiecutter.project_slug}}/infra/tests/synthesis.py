"""What the session fixture hands to the infra tests: synthesized stacks and their folders.

Kept out of conftest.py so tests import it by a unique name (`conftest` is ambiguous when a
project has several test folders).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

INFRA_DIR = Path(__file__).resolve().parents[1]
PROJECT_DIR = INFRA_DIR.parent


def tf_ref(resource_type: str, logical_id: str, attribute: str = "id") -> str:
    """A Terraform interpolation as cdktf writes it (built without braces-in-f-strings, which
    the cookiecutter template engine would try to render)."""
    return "${" + f"{resource_type}.{logical_id}.{attribute}" + "}"


@dataclass(frozen=True)
class SynthesizedStack:
    config: Any  # mlops_infra.config.EnvironmentConfig
    text: str  # Testing.synth output, for the cdktf Testing helpers
    tf: dict[str, Any]  # the same, parsed

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.tf.get("resource", {}).get(resource_type, {})

    def only(self, resource_type: str) -> dict[str, Any]:
        (body,) = self.resources(resource_type).values()
        return body

    def ref(self, resource_type: str, attribute: str = "id") -> str:
        """The Terraform reference to the single resource of `resource_type`."""
        (logical_id,) = self.resources(resource_type)
        return tf_ref(resource_type, logical_id, attribute)


@dataclass(frozen=True)
class Synthesis:
    stacks: dict[str, SynthesizedStack]  # "<isolation>/<env>", "variant/<name>"
    outdirs: dict[str, Path]  # isolation -> folder holding stacks/<env>/cdk.tf.json
    testing: Any  # cdktf.Testing, handed out so test modules need not import cdktf
    settings: Any  # mlops_infra.config.ProjectSettings

    def by_isolation(self, isolation: str) -> list[SynthesizedStack]:
        return [s for key, s in self.stacks.items() if key.startswith(f"{isolation}/")]
