"""The only module importing cdktf, constructs and the azurerm bindings (CDK Terrain migration:
change these imports and the pins; see README.md)."""

import cdktf_cdktf_provider_azurerm as azurerm
from cdktf import App, LocalBackend, TerraformOutput, TerraformStack
from constructs import Construct

__all__ = ["App", "Construct", "LocalBackend", "TerraformOutput", "TerraformStack", "azurerm"]
