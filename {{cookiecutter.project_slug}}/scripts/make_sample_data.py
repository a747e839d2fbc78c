"""Generate the sample data: small, deterministic data sets for each task (numpy only).

- classification: churn-like customers (data/sample.csv of a classification project). Mixed
  numeric and categorical columns and a churn label that depends on contract, tenure, charges
  and support calls with noise, so models have a real but imperfect signal to learn.
- regression: taxi trips with a right-skewed `fare_amount` (data/sample.csv of a regression
  project): a base fare plus a rate per km and per minute, surcharges by hour, day and
  borough, and multiplicative noise, rounded to cents.

Both have a few percent missing values in some numeric and categorical columns, as real exports
do. Usage: `python scripts/make_sample_data.py [classification|regression] [OUTPUT]`; the task
defaults to the project's (config/pipeline.yaml), the output to data/sample.csv. Tests import
`write_sample` to create either task's data in a temporary folder.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROWS = 2000
SEED = 20240601
PROJECT_DIR = Path(__file__).resolve().parents[1]
OUTPUT = PROJECT_DIR / "data" / "sample.csv"
TASKS = ("classification", "regression")
CHURN_COLUMNS = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "age",
    "contract",
    "internet_service",
    "payment_method",
    "paperless_billing",
    "churned",
)
TAXI_COLUMNS = (
    "trip_distance_km",
    "trip_minutes",
    "passenger_count",
    "pickup_hour",
    "day_of_week",
    "vendor",
    "payment_type",
    "pickup_borough",
    "fare_amount",
)


def churn_rows(rows: int = ROWS, seed: int = SEED) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], rows, p=[0.55, 0.25, 0.2])
    internet = rng.choice(["fiber", "dsl", "none"], rows, p=[0.45, 0.4, 0.15])
    payment = rng.choice(
        ["electronic-check", "mailed-check", "bank-transfer", "credit-card"],
        rows,
        p=[0.35, 0.2, 0.225, 0.225],
    )
    paperless = rng.choice(["yes", "no"], rows, p=[0.6, 0.4])
    tenure = np.clip(rng.gamma(1.6, 18.0, rows).round(), 1, 72).astype(int)
    base_charge = np.select([internet == "fiber", internet == "dsl"], [80.0, 55.0], 25.0)
    monthly = np.round(base_charge + rng.normal(0, 12, rows), 2).clip(18, 120)
    total = np.round(monthly * tenure * rng.uniform(0.95, 1.05, rows), 2)
    support_calls = rng.poisson(1.2 + 1.3 * (internet == "fiber"), rows)
    age = np.clip(rng.normal(45, 15, rows).round(), 18, 90).astype(int)

    logit = (
        -1.2
        + 2.2 * (contract == "month-to-month")
        - 1.6 * (contract == "two-year")
        - 0.07 * tenure
        + 0.03 * (monthly - 65)
        + 0.6 * support_calls
        + 0.8 * (payment == "electronic-check")
        + 0.4 * (paperless == "yes")
        - 0.015 * (age - 45)
        + rng.normal(0, 0.4, rows)
    )
    churned = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)

    records = []
    for i in range(rows):
        records.append(
            {
                "tenure_months": tenure[i],
                "monthly_charges": monthly[i],
                "total_charges": total[i],
                "support_calls": support_calls[i],
                "age": age[i],
                "contract": contract[i],
                "internet_service": internet[i],
                "payment_method": payment[i],
                "paperless_billing": paperless[i],
                "churned": churned[i],
            }
        )
    # Blank out a few percent of some features, as real exports do.
    for column, rate in (("total_charges", 0.03), ("age", 0.05), ("payment_method", 0.04)):
        for i in np.flatnonzero(rng.uniform(size=rows) < rate):
            records[i][column] = ""
    return records


# Pickups per hour of the day (0-23): quiet nights, a morning and a larger evening peak.
HOURLY_PICKUPS = np.array(
    [3, 2, 1.5, 1, 1, 1.5, 3, 5, 6.5, 6, 5, 5, 5.5, 5.5, 5.5, 6, 6.5, 7, 7.5, 7, 6, 5.5, 5, 4]
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BOROUGHS = ("manhattan", "brooklyn", "queens", "bronx", "staten-island")


def taxi_fare_rows(rows: int = ROWS, seed: int = SEED) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    borough = rng.choice(BOROUGHS, rows, p=[0.55, 0.2, 0.15, 0.07, 0.03])
    hour = rng.choice(24, rows, p=HOURLY_PICKUPS / HOURLY_PICKUPS.sum())
    day = rng.choice(len(DAYS), rows, p=[0.14, 0.14, 0.145, 0.15, 0.165, 0.15, 0.11])
    vendor = rng.choice(["city-cabs", "metro-taxi", "yellow-line"], rows, p=[0.45, 0.35, 0.2])
    payment = rng.choice(["card", "cash", "app"], rows, p=[0.6, 0.28, 0.12])
    passengers = rng.choice([1, 2, 3, 4, 5, 6], rows, p=[0.7, 0.14, 0.06, 0.04, 0.04, 0.02])

    # Trips are log-normal in length (a few long ones), longer from the outer boroughs.
    outer = borough != "manhattan"
    distance = np.clip(rng.lognormal(np.log(3.2) + 0.35 * outer, 0.7, rows), 0.3, 60).round(2)
    weekday = day < 5
    rush = weekday & (((hour >= 7) & (hour <= 9)) | ((hour >= 16) & (hour <= 19)))
    night = (hour >= 20) | (hour < 6)
    # Average speed in km/h: slow in rush hour and in Manhattan, fast at night.
    speed = 22.0 * np.where(rush, 0.65, 1.0) * np.where(night, 1.35, 1.0)
    speed = speed * np.where(outer, 1.25, 1.0) * rng.lognormal(0, 0.2, rows)
    minutes = np.round(distance / speed * 60 + rng.uniform(0.5, 3.0, rows), 1)

    fare = (
        3.00  # flag drop
        + 1.55 * distance
        + 0.45 * minutes
        + 1.00 * rush  # peak surcharge
        + 0.50 * night  # overnight surcharge
        + 2.50 * (borough == "manhattan")  # congestion surcharge
        + 1.50 * (passengers >= 5)  # a larger vehicle
    )
    fare = np.round(fare * rng.lognormal(0, 0.08, rows), 2)  # meter, route and waiting noise

    records = []
    for i in range(rows):
        records.append(
            {
                "trip_distance_km": distance[i],
                "trip_minutes": minutes[i],
                "passenger_count": passengers[i],
                "pickup_hour": hour[i],
                "day_of_week": DAYS[day[i]],
                "vendor": vendor[i],
                "payment_type": payment[i],
                "pickup_borough": borough[i],
                "fare_amount": fare[i],
            }
        )
    for column, rate in (
        ("trip_minutes", 0.03),
        ("passenger_count", 0.02),
        ("payment_type", 0.04),
        ("pickup_borough", 0.02),
    ):
        for i in np.flatnonzero(rng.uniform(size=rows) < rate):
            records[i][column] = ""
    return records


GENERATORS: dict[str, tuple[Callable[..., list[dict[str, object]]], tuple[str, ...]]] = {
    "classification": (churn_rows, CHURN_COLUMNS),
    "regression": (taxi_fare_rows, TAXI_COLUMNS),
}


def write_sample(task: str, path: Path) -> Path:
    """Write the task's sample data set to `path` (a CSV), the same bytes on every run."""
    if task not in GENERATORS:
        raise ValueError(f"unknown task '{task}': use one of {', '.join(TASKS)}")
    generate, columns = GENERATORS[task]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(generate())
    return path


def project_task() -> str:
    """The task config/pipeline.yaml names (classification when it names none)."""
    import yaml

    config = PROJECT_DIR / "config" / "pipeline.yaml"
    settings = yaml.safe_load(config.read_text()) if config.exists() else None
    return (settings or {}).get("task") or "classification"


def main(arguments: list[str]) -> int:
    task = arguments[0] if arguments and arguments[0] in TASKS else None
    outputs = arguments[1:] if task else arguments
    if len(outputs) > 1:
        print(
            "usage: python scripts/make_sample_data.py [classification|regression] [OUTPUT]",
            file=sys.stderr,
        )
        return 2
    task = task or project_task()
    path = write_sample(task, Path(outputs[0]) if outputs else OUTPUT)
    print(f"wrote {ROWS} rows of {task} sample data to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
