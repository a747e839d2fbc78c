"""The region table and the address plan: standard-library modules the template's hook loads."""

from __future__ import annotations

import pytest
from mlops_infra import address_plan, regions


def test_the_table_is_dated_and_only_names_known_regions() -> None:
    assert regions.CHECKED_ON
    assert regions._ZONES <= regions.REGIONS
    assert regions._UNPAIRED <= regions.REGIONS


@pytest.mark.parametrize(
    ("location", "zones", "pair", "best"),
    [
        ("westeurope", True, True, "GZRS"),
        ("westus", False, True, "GRS"),
        ("italynorth", True, False, "ZRS"),
    ],
)
def test_capabilities_decide_the_best_redundancy(
    location: str, zones: bool, pair: bool, best: str
) -> None:
    region = regions.capabilities(location)
    assert (region.availability_zones, region.geo_pair) == (zones, pair)
    assert regions.storage_redundancy(location, "auto") == best
    assert regions.storage_redundancy(location, "LRS") == "LRS"


def test_an_unsupported_redundancy_says_why_and_what_to_choose() -> None:
    with pytest.raises(ValueError, match=r"westus has no availability zones.*choose 'auto'"):
        regions.storage_redundancy("westus", "ZRS")
    with pytest.raises(ValueError, match="italynorth has no paired region"):
        regions.storage_redundancy("italynorth", "GZRS")
    assert regions.consequences("westeurope") == []
    assert "not zone-redundant" in regions.consequences("westus")[0]


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("10.0.0.0", "needs a prefix length"),
        ("ten/16", "not an IPv4 range"),
        ("10.0.0.5/16", "host bits set"),
        ("100.64.0.0/16", "not inside a private range"),
        ("10.0.0.0/21", "cannot hold a /20"),
        ("10.0.0.0/16,10.0.128.0/17", "overlaps"),
        ("10.0.0.0/16,10.1.0.0/16,10.2.0.0/16", "exactly one range per environment"),
        ("10.0.0.0/16,10.1.0.0/23", "/12 to /21"),
    ],
)
def test_bad_address_spaces_are_rejected(space: str, message: str) -> None:
    with pytest.raises(address_plan.AddressPlanError) as error:
        address_plan.plan(space, ["dev", "prod"])
    assert message in str(error.value)


def test_one_range_per_environment_is_used_as_given() -> None:
    plans = address_plan.plan("10.10.0.0/16, 10.20.0.0/21", ["dev", "prod"])
    assert plans["prod"] == address_plan.VnetPlan("10.20.0.0/21", "10.20.0.0/22", "10.20.4.0/24")
    assert address_plan.overlapping(plans) == []
