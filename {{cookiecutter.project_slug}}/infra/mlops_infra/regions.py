"""What each Azure region supports, in ONE table: the template's pre-generation hook and the
stacks both read it, so an answer the hook accepts is one the stacks can deploy.

Standard library only: the hook loads this file before any dependency is installed.

The table is written by hand from Microsoft's lists, checked on the date below:
- regions with availability zones: https://learn.microsoft.com/azure/reliability/regions-list
- regions without a pair (no geo-redundant storage):
  https://learn.microsoft.com/azure/reliability/cross-region-replication-azure
Where a source was unclear, the entry says "no": that only costs resilience (a zone-redundant
or geo-redundant option is not used), never a failed apply. Re-check it when you add a region.
"""

from __future__ import annotations

from dataclasses import dataclass

CHECKED_ON = "2026-11-23"

# Regions with availability zones (zone-redundant registry, ZRS/GZRS storage).
_ZONES = frozenset(
    [
        "australiaeast",
        "austriaeast",
        "belgiumcentral",
        "brazilsouth",
        "canadacentral",
        "centralindia",
        "centralus",
        "chilecentral",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "germanywestcentral",
        "indonesiacentral",
        "israelcentral",
        "italynorth",
        "japaneast",
        "japanwest",
        "koreacentral",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "northeurope",
        "norwayeast",
        "polandcentral",
        "qatarcentral",
        "southafricanorth",
        "southcentralus",
        "southeastasia",
        "spaincentral",
        "swedencentral",
        "switzerlandnorth",
        "uaenorth",
        "uksouth",
        "westeurope",
        "westus2",
        "westus3",
    ]
)

# Regions without a paired region: no GRS/GZRS storage.
_UNPAIRED = frozenset(
    [
        "austriaeast",
        "belgiumcentral",
        "chilecentral",
        "indonesiacentral",
        "israelcentral",
        "italynorth",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "polandcentral",
        "qatarcentral",
        "spaincentral",
    ]
)

# Every region the template accepts (the hook suggests the closest one for a typo).
REGIONS = frozenset(
    [
        "australiacentral",
        "australiacentral2",
        "australiaeast",
        "australiasoutheast",
        "austriaeast",
        "belgiumcentral",
        "brazilsouth",
        "brazilsoutheast",
        "canadacentral",
        "canadaeast",
        "centralindia",
        "centralus",
        "chilecentral",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "francesouth",
        "germanynorth",
        "germanywestcentral",
        "indonesiacentral",
        "israelcentral",
        "italynorth",
        "japaneast",
        "japanwest",
        "jioindiacentral",
        "jioindiawest",
        "koreacentral",
        "koreasouth",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "northcentralus",
        "northeurope",
        "norwayeast",
        "norwaywest",
        "polandcentral",
        "qatarcentral",
        "southafricanorth",
        "southafricawest",
        "southcentralus",
        "southeastasia",
        "southindia",
        "spaincentral",
        "swedencentral",
        "swedensouth",
        "switzerlandnorth",
        "switzerlandwest",
        "uaecentral",
        "uaenorth",
        "uksouth",
        "ukwest",
        "westcentralus",
        "westeurope",
        "westindia",
        "westus",
        "westus2",
        "westus3",
    ]
)

# Storage redundancy the answer may ask for; "auto" takes the best the region supports.
REDUNDANCY_CHOICES = ("auto", "GZRS", "ZRS", "GRS", "LRS")


@dataclass(frozen=True)
class RegionCapabilities:
    location: str
    availability_zones: bool
    geo_pair: bool

    @property
    def best_storage_redundancy(self) -> str:
        if self.availability_zones and self.geo_pair:
            return "GZRS"
        if self.availability_zones:
            return "ZRS"
        return "GRS" if self.geo_pair else "LRS"

    def supports(self, redundancy: str) -> bool:
        needs_zones = redundancy in ("ZRS", "GZRS")
        needs_pair = redundancy in ("GRS", "GZRS")
        return (self.availability_zones or not needs_zones) and (self.geo_pair or not needs_pair)


def capabilities(location: str) -> RegionCapabilities:
    """KeyError for a region the table does not know."""
    if location not in REGIONS:
        raise KeyError(location)
    return RegionCapabilities(location, location in _ZONES, location not in _UNPAIRED)


def storage_redundancy(location: str, requested: str) -> str:
    """The replication type to deploy; ValueError (the reason) when the region cannot have it."""
    if requested not in REDUNDANCY_CHOICES:
        raise ValueError(f"must be one of {', '.join(REDUNDANCY_CHOICES)}")
    region = capabilities(location)
    if requested == "auto":
        return region.best_storage_redundancy
    if not region.supports(requested):
        missing = []
        if requested in ("ZRS", "GZRS") and not region.availability_zones:
            missing.append("no availability zones")
        if requested in ("GRS", "GZRS") and not region.geo_pair:
            missing.append("no paired region")
        raise ValueError(
            f"{location} has {' and '.join(missing)} (region table of {CHECKED_ON}), so "
            f"the storage account cannot be {requested}; choose 'auto' "
            f"({region.best_storage_redundancy} there) or another region"
        )
    return requested


def consequences(location: str) -> list[str]:
    """Plain-language warnings for what the region cannot give (empty when it has everything)."""
    region = capabilities(location)
    warnings = []
    if not region.availability_zones:
        warnings.append(
            f"{location} has no availability zones (region table of {CHECKED_ON}): the "
            "container registry and storage are not zone-redundant, so a datacenter outage "
            "stops the workspace until it is over"
        )
    if not region.geo_pair:
        warnings.append(
            f"{location} has no paired region (region table of {CHECKED_ON}): storage is not "
            "geo-redundant, so a regional disaster can lose workspace data; back it up elsewhere"
        )
    return warnings
