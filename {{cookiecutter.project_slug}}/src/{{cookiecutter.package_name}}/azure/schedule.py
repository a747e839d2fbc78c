"""Scheduled retraining: a `JobSchedule` that submits the training pipeline on a cron."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..config import PACKAGE_NAME, PROJECT_SLUG, Settings

if TYPE_CHECKING:
    from azure.ai.ml.entities import JobSchedule, PipelineJob


def schedule_name(environment: str) -> str:
    return f"{PROJECT_SLUG}-retrain-{environment}"


def build_schedule(settings: Settings, job: PipelineJob, environment: str) -> JobSchedule:
    from azure.ai.ml.entities import CronTrigger, JobSchedule

    trigger = CronTrigger(
        expression=settings.azure.schedule.cron, time_zone=settings.azure.schedule.time_zone
    )
    return JobSchedule(
        name=schedule_name(environment),
        display_name=f"{PACKAGE_NAME} retraining ({environment})",
        trigger=trigger,
        create_job=job,
        tags={"environment": environment},
    )


def write_schedule_yaml(schedule: JobSchedule, job_file: str, path: Path) -> Path:
    """The schedule as YAML that `load_schedule` accepts, its job referenced by file.

    (The SDK's own `dump` inlines the pipeline in a shape its loader refuses.)
    """
    trigger = schedule.trigger
    document = {
        "$schema": "https://azuremlschemas.azureedge.net/latest/schedule.schema.json",
        "name": schedule.name,
        "display_name": schedule.display_name,
        "trigger": {
            "type": "cron",
            "expression": trigger.expression,
            "time_zone": str(trigger.time_zone),
        },
        "create_job": job_file,
        "tags": dict(schedule.tags or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
