"""Online benchmark: `serve` against `mlflow models serve`, same model, same worker count.

    .venv/bin/python benchmarks/online.py [--seconds 10] [--connections 8] [--model auto]
                                          [--inference-log]

Starts both servers, checks they give the same predictions, warms them up, then loads them in
alternating rounds with single-row and 100-row requests. Prints requests/s, p50/p99 latency
(the median of the rounds' percentiles) and the ratios. `--inference-log` adds a third server,
`serve` with the inference log on, in the same rounds, and prints what logging costs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import requests
from _common import (
    Load,
    combine,
    generate_load,
    machine_note,
    mlflow_serve,
    model_under_test,
    ours,
    running,
    sample,
    split_payload,
)

TARGET_RPS_RATIO = 20.0
TARGET_P99_RATIO = 10.0
TARGET_LOGGING_COST = 0.10  # the inference log may cost at most 10% of throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per server and shape")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", choices=["auto", "champion", "reference"], default="auto")
    parser.add_argument(
        "--generator", choices=["auto", "wrk", "python"], default="auto", help="load generator"
    )
    parser.add_argument(
        "--inference-log", action="store_true", help="also measure serve with logging on"
    )
    args = parser.parse_args()

    model = model_under_test(args.model)
    rows = sample(model.source_rows, 100)
    split = {"single": split_payload(rows.head(1)), "batch100": split_payload(rows)}
    print(f"model: {model.description}\n{machine_note()}")
    print(
        f"{args.workers} workers each, {args.connections} connections, "
        f"{args.seconds:.0f} s per server and shape in {args.rounds} alternating rounds"
    )

    bodies = {
        "serve": {k: json.dumps({"input_data": v}).encode() for k, v in split.items()},
        "mlflow": {k: json.dumps({"dataframe_split": v}).encode() for k, v in split.items()},
    }
    servers = {
        "mlflow": mlflow_serve(model.path, args.workers),
        "serve": ours(model.path, args.workers),
    }
    log_dir = Path(tempfile.mkdtemp(prefix="inference-log-")) if args.inference_log else None
    if log_dir is not None:
        servers["logged"] = ours(model.path, args.workers, inference_log_dir=log_dir)
        bodies["logged"] = bodies["serve"]
    loads: dict[tuple[str, str], list[Load]] = {}
    predictions = {}
    # Both servers stay up and are measured in alternating rounds: on a shared machine the
    # background load drifts, and interleaving exposes both to the same drift.
    with ExitStack() as stack:
        for server in servers.values():
            stack.enter_context(running(server))
        for key, server in servers.items():
            answer = requests.post(
                server.url,
                data=bodies[key]["batch100"],
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            if not answer.ok:
                raise SystemExit(f"{server.name} failed the check request: {answer.text[:500]}")
            predictions[key] = answer.json()["predictions"]
            generate_load(
                server.url,
                bodies[key]["single"],
                connections=2,
                seconds=3,
                generator=args.generator,
            )  # warm-up
        for _ in range(args.rounds):
            for shape in ("single", "batch100"):
                for key, server in servers.items():
                    load = generate_load(
                        server.url,
                        bodies[key][shape],
                        connections=args.connections,
                        generator=args.generator,
                        seconds=args.seconds / args.rounds,
                    )
                    loads.setdefault((key, shape), []).append(load)
    results = {case: combine(runs) for case, runs in loads.items()}
    for key, server in servers.items():
        for shape in ("single", "batch100"):
            load = results[key, shape]
            rows_per_request = 1 if shape == "single" else 100
            print(
                f"{server.name:32} {shape:9} {load.rps:8.1f} req/s "
                f"{load.rps * rows_per_request:9.0f} rows/s  p50 {load.p50_ms:7.1f} ms  "
                f"p99 {load.p99_ms:7.1f} ms  errors {load.errors}  ({load.generator})"
            )
    if predictions["serve"] != predictions["mlflow"]:
        raise SystemExit("the two servers disagree on the same rows: the comparison is void")
    print("both servers returned identical predictions for the 100 benchmark rows")

    print("\nratios (serve / mlflow models serve, same run):")
    for shape in ("single", "batch100"):
        ours_load, peer = results["serve", shape], results["mlflow", shape]
        rps_ratio = ours_load.rps / peer.rps
        p99_ratio = peer.p99_ms / ours_load.p99_ms
        print(f"  {shape:9} throughput x{rps_ratio:.1f}   p99 latency 1/{p99_ratio:.1f} of peer")
    single_rps = results["serve", "single"].rps / results["mlflow", "single"].rps
    single_p99 = results["mlflow", "single"].p99_ms / results["serve", "single"].p99_ms
    verdict = (
        "met" if single_rps >= TARGET_RPS_RATIO and single_p99 >= TARGET_P99_RATIO else "NOT met"
    )
    print(
        f"target (single row: >= x{TARGET_RPS_RATIO:.0f} req/s, p99 <= 1/{TARGET_P99_RATIO:.0f}):"
        f" {verdict}"
    )
    if log_dir is not None:
        try:
            report_logging_cost(results, log_dir)
        finally:
            shutil.rmtree(log_dir, ignore_errors=True)
    errors = sum(load.errors for load in results.values())
    if errors:
        raise SystemExit(f"{errors} failed requests during the benchmark")


def report_logging_cost(results: dict, log_dir: Path) -> None:
    """Throughput with the inference log on versus off, and proof that it logged."""
    from {{ cookiecutter.package_name }}.monitoring.inference_log import read_window

    logged_rows = len(read_window(log_dir, timedelta(days=1)))
    print(f"\ninference log (serve with logging / without, same run; {logged_rows:,} rows logged):")
    worst = 0.0
    for shape in ("single", "batch100"):
        cost = 1 - results["logged", shape].rps / results["serve", shape].rps
        p99 = results["logged", shape].p99_ms / results["serve", shape].p99_ms
        worst = max(worst, cost)
        print(f"  {shape:9} throughput cost {cost:+.1%}   p99 x{p99:.2f}")
    verdict = "met" if worst < TARGET_LOGGING_COST else "NOT met"
    print(f"target (logging costs < {TARGET_LOGGING_COST:.0%} of throughput): {verdict}")
    print("  in-process CPU per request (less noisy than the load test):")
    for shape, rows in (("single", 1), ("batch100", 100)):
        record_us, flush_us = logging_cpu_per_request(log_dir, rows)
        busy_ms = 1000 / results["serve", shape].rps  # machine time per request, all workers
        print(
            f"  {shape:9} record {record_us:.1f} us + flush {flush_us:.1f} us "
            f"= {(record_us + flush_us) / 10 / busy_ms:.1f}% of the {busy_ms:.2f} ms per request"
        )


def logging_cpu_per_request(log_dir: Path, rows: int) -> tuple[float, float]:
    """CPU per request of the two halves of logging, timed in-process on logged rows."""
    import time

    from {{ cookiecutter.package_name }}.monitoring.inference_log import (
        META_COLUMNS,
        InferenceLog,
        read_window,
    )

    sample = read_window(log_dir, timedelta(days=1)).head(rows).drop(columns=list(META_COLUMNS))
    columns = {name: sample[name].to_numpy() for name in sample.columns}
    requests_ = 20_000 // rows
    log = InferenceLog(log_dir / "timing", "0", flush_seconds=3600)
    started = time.process_time()
    for index in range(requests_):
        log.record(str(index), columns, [1] * rows)
    recorded = time.process_time()
    log.flush()
    flushed = time.process_time()
    log.close()
    per = 1e6 / requests_
    return (recorded - started) * per, (flushed - recorded) * per


if __name__ == "__main__":
    main()
