"""Log Analytics, workspace-based Application Insights, and diagnostic settings into them."""

from __future__ import annotations

from .cdk import Construct, azurerm
from .config import EnvironmentConfig
from .naming import Names


class Monitoring(Construct):
    """One Log Analytics workspace per environment; every resource's audit logs land in it."""

    def __init__(
        self, scope: Construct, id_: str, *, config: EnvironmentConfig, names: Names, rg: str
    ) -> None:
        super().__init__(scope, id_)
        self.log_analytics = azurerm.log_analytics_workspace.LogAnalyticsWorkspace(
            self,
            "log-analytics",
            name=names.log_analytics_workspace,
            resource_group_name=rg,
            location=config.location,
            sku="PerGB2018",
            retention_in_days=90,
            # Queries and ingestion with Azure AD only: no shared workspace keys.
            local_authentication_enabled=False,
        )
        self.application_insights = azurerm.application_insights.ApplicationInsights(
            self,
            "application-insights",
            name=names.application_insights,
            resource_group_name=rg,
            location=config.location,
            application_type="web",
            workspace_id=self.log_analytics.id,
            # Entra ID only: telemetry sent with the instrumentation key alone is refused. An
            # online endpoint that sends App Insights telemetry needs its identity to hold
            # "Monitoring Metrics Publisher" here (docs/infrastructure.md).
            local_authentication_disabled=True,
        )

    def send_audit_logs(self, id_: str, *, names: Names, target_resource_id: str) -> None:
        """Ship the resource's `audit` and `allLogs` categories to Log Analytics."""
        azurerm.monitor_diagnostic_setting.MonitorDiagnosticSetting(
            self,
            f"diag-{id_}",
            name=names.diagnostic_setting(id_),
            target_resource_id=target_resource_id,
            log_analytics_workspace_id=self.log_analytics.id,
            enabled_log=[
                azurerm.monitor_diagnostic_setting.MonitorDiagnosticSettingEnabledLog(
                    category_group="allLogs"
                )
            ],
        )
