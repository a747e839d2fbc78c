"""Generate data/sample.csv: a small, deterministic, churn-like data set (numpy only).

Mixed numeric and categorical columns, a few percent missing values, and a churn label that
depends on contract, tenure, charges and support calls with noise, so models have a real but
imperfect signal to learn. Run `python scripts/make_sample_data.py` to regenerate it exactly.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

ROWS = 2000
SEED = 20240601
OUTPUT = Path(__file__).resolve().parents[1] / "data" / "sample.csv"
COLUMNS = (
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


def generate(rows: int = ROWS, seed: int = SEED) -> list[dict[str, object]]:
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


def write(path: Path = OUTPUT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(generate())


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
    print(f"wrote {ROWS} rows to {sys.argv[1] if len(sys.argv) > 1 else OUTPUT}")
