"""Azure's documented limits, enforced in code before a call is made (and by the tests' fakes).

Sources, checked 2026-12 with the search tool:
- ARM tags (online endpoints, deployments, every tracked resource): at most 50 tag name-value
  pairs per resource, names up to 512 characters, values up to 256.
  learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations
  (also the azure-rest-api-specs `tags` description: "maximum key/value length 256").
- Online endpoint names: 3-32 characters, a letter first, letters, digits and hyphens
  (Azure ML's endpoint limits; `azure/endpoints.py` ENDPOINT_NAME enforces it).
- Azure ML's MLflow registry stores model tags as Azure ML asset tags; this project holds its
  registry tags to the same 256 characters, so one rule covers every store (a local store
  accepts more, Azure does not promise more).

A value that is too long is truncated with a marker that says how much was cut; the full text
belongs in the summary file and the logs, which have no such limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import PipelineError

TAG_VALUE_MAX = 256
TAG_NAME_MAX = 512
TAG_COUNT_MAX = 50
_MARKER = "...[{cut} more chars, see the logs]"


class LimitError(PipelineError):
    """What was about to be sent breaks one of Azure's documented limits."""


def fit_tag_value(value: str, limit: int = TAG_VALUE_MAX) -> str:
    """`value` itself when it fits, else its start and a marker, `limit` characters in all."""
    if len(value) <= limit:
        return value
    for room in range(limit, -1, -1):  # the marker's own length depends on the count it shows
        marker = _MARKER.format(cut=len(value) - room)
        if room + len(marker) <= limit:
            return value[:room] + marker
    raise AssertionError("unreachable: a marker always fits in 256 characters")


def is_truncated(value: str) -> bool:
    return value.endswith(", see the logs]") and "more chars" in value


def fit_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Every value fitted; names are checked (a name is a key: it is never cut)."""
    for name in tags:
        if not name or len(name) > TAG_NAME_MAX:
            raise LimitError(f"tag name '{name[:40]}...' is empty or over {TAG_NAME_MAX} chars")
    return {name: fit_tag_value(str(value)) for name, value in tags.items()}


def check_resource_tags(tags: Mapping[str, str], *, resource: str) -> None:
    """Raise before sending a resource whose tags Azure Resource Manager would refuse."""
    if len(tags) > TAG_COUNT_MAX:
        raise LimitError(
            f"{resource} would carry {len(tags)} tags; Azure allows {TAG_COUNT_MAX} per resource"
        )
    for name, value in tags.items():
        if not name or len(name) > TAG_NAME_MAX:
            raise LimitError(f"{resource}: tag name '{name[:40]}' is empty or too long")
        if len(str(value)) > TAG_VALUE_MAX:
            raise LimitError(
                f"{resource}: tag '{name}' is {len(str(value))} characters; Azure allows "
                f"{TAG_VALUE_MAX}"
            )
