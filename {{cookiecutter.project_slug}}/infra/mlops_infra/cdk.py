"""The only module that imports cdktf, constructs and the azurerm bindings.

cdktf was sunset by HashiCorp on 2025-12-10; its community fork CDK Terrain renames the
packages (`cdktn`, `cdktn-provider-azurerm`). Keeping every import here makes that migration a
change to this file and the pins, not to every construct.
"""

import cdktf_cdktf_provider_azurerm as azurerm
from cdktf import (
    App,
    AzurermBackend,
    Fn,
    LocalBackend,
    TerraformOutput,
    TerraformResourceLifecycle,
    TerraformStack,
    Testing,
)
from constructs import Construct

__all__ = [
    "App",
    "AzurermBackend",
    "Construct",
    "Fn",
    "LocalBackend",
    "TerraformOutput",
    "TerraformResourceLifecycle",
    "TerraformStack",
    "Testing",
    "azurerm",
]
