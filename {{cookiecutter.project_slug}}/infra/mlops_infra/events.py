"""Workspace events through Event Grid into a private storage queue, for event-driven MLOps:
run tests when a model is registered, react to failed runs, retrain on data drift.

The system topic delivers with its own managed identity (Storage Queue Data Message Sender on
the queue only), as a trusted Azure service through the storage firewall: no keys, no SAS, no
public endpoint. Consumers (CI with the clusters' identity, or a function) read the queue with
Storage Queue Data Message Processor. Filters come from settings.json (`events`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .cdk import Construct, azurerm
from .config import EnvironmentConfig
from .dependencies import WorkspaceDependencies
from .identity import assign
from .naming import Names
from .roles import QUEUE_SENDER_ROLE

TOPIC_TYPE = "Microsoft.MachineLearningServices.Workspaces"
MAX_DELIVERY_ATTEMPTS = 30
EVENT_TIME_TO_LIVE_MINUTES = 1440


@dataclass(frozen=True)
class Subscription:
    key: str
    event_type: str
    filters: dict[str, tuple[str, ...]]  # event data key -> allowed values (empty: no filter)


def subscriptions(config: EnvironmentConfig) -> list[Subscription]:
    """The three subscriptions and their filters, from the environment's config."""
    events = config.events
    return [
        Subscription(
            "model-registered",
            "Microsoft.MachineLearningServices.ModelRegistered",
            {"data.ModelName": events.model_names},
        ),
        Subscription(
            "run-status-changed",
            "Microsoft.MachineLearningServices.RunStatusChanged",
            {"data.RunStatus": events.run_statuses, "data.ExperimentName": events.experiment_names},
        ),
        Subscription(
            "data-drift-detected",
            "Microsoft.MachineLearningServices.DatasetDriftDetected",
            {},
        ),
    ]


class WorkspaceEvents(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        names: Names,
        rg: str,
        workspace_id: str,
        dependencies: WorkspaceDependencies,
    ) -> None:
        super().__init__(scope, id_)
        egst = azurerm.eventgrid_system_topic
        self.topic = egst.EventgridSystemTopic(
            self,
            "topic",
            name=names.event_topic,
            resource_group_name=rg,
            location=config.location,
            topic_type=TOPIC_TYPE,
            source_resource_id=workspace_id,
            identity=egst.EventgridSystemTopicIdentity(type="SystemAssigned"),
        )
        sender = assign(
            self,
            "queue-sender",
            QUEUE_SENDER_ROLE,
            dependencies.event_queue_scope,
            self.topic.identity.principal_id,
        )
        sub = azurerm.eventgrid_system_topic_event_subscription
        self.subscriptions = {}
        for subscription in subscriptions(config):
            string_in = [
                sub.EventgridSystemTopicEventSubscriptionAdvancedFilterStringIn(
                    key=key, values=list(values)
                )
                for key, values in subscription.filters.items()
                if values
            ]
            self.subscriptions[subscription.key] = sub.EventgridSystemTopicEventSubscription(
                self,
                subscription.key,
                name=names.event_subscription(subscription.key),
                resource_group_name=rg,
                system_topic=self.topic.name,
                included_event_types=[subscription.event_type],
                advanced_filter=(
                    sub.EventgridSystemTopicEventSubscriptionAdvancedFilter(string_in=string_in)
                    if string_in
                    else None
                ),
                event_delivery_schema="EventGridSchema",
                delivery_identity=sub.EventgridSystemTopicEventSubscriptionDeliveryIdentity(
                    type="SystemAssigned"
                ),
                storage_queue_endpoint=sub.EventgridSystemTopicEventSubscriptionStorageQueueEndpoint(
                    storage_account_id=dependencies.storage_account.id,
                    queue_name=dependencies.event_queue.name,
                    queue_message_time_to_live_in_seconds=config.events.queue_message_ttl_seconds,
                ),
                retry_policy=sub.EventgridSystemTopicEventSubscriptionRetryPolicy(
                    max_delivery_attempts=MAX_DELIVERY_ATTEMPTS,
                    event_time_to_live=EVENT_TIME_TO_LIVE_MINUTES,
                ),
                # Delivery fails until the topic's identity may send to the queue.
                depends_on=[sender],
            )
