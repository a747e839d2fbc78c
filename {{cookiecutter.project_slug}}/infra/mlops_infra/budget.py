"""A monthly consumption budget on the environment's resource group: e-mail alerts when actual
or forecast cost crosses the configured percentages. Alerts only: Azure budgets never stop
resources; the clusters' maximum node counts are the hard limit.
"""

from __future__ import annotations

from .cdk import Construct, Fn, TerraformResourceLifecycle, azurerm
from .config import EnvironmentConfig
from .naming import Names

# Azure requires the start date to be the first of a month and not before the current month
# when created, so it is computed at apply time and then ignored (a fixed date in the code
# would be refused by a later first deploy).
START_OF_THIS_MONTH = "YYYY-MM-01'T'00:00:00Z"


class Budget(Construct):
    def __init__(
        self, scope: Construct, id_: str, *, config: EnvironmentConfig, names: Names, rg_id: str
    ) -> None:
        super().__init__(scope, id_)
        cb = azurerm.consumption_budget_resource_group
        budget = config.budget
        notifications = [
            cb.ConsumptionBudgetResourceGroupNotification(
                enabled=True,
                threshold=threshold,
                threshold_type=threshold_type,
                operator="GreaterThanOrEqualTo",
                contact_emails=list(budget.contact_emails),
            )
            for threshold_type, thresholds in (
                ("Actual", budget.actual_thresholds),
                ("Forecasted", budget.forecast_thresholds),
            )
            for threshold in thresholds
        ]
        self.budget = cb.ConsumptionBudgetResourceGroup(
            self,
            "budget",
            name=names.budget,
            resource_group_id=rg_id,
            amount=budget.monthly_amount,
            time_grain="Monthly",
            time_period=cb.ConsumptionBudgetResourceGroupTimePeriod(
                start_date=Fn.formatdate(START_OF_THIS_MONTH, Fn.timestamp())
            ),
            notification=notifications,
            lifecycle=TerraformResourceLifecycle(ignore_changes=["time_period"]),
        )
