"""Online benchmark: `serve` against `mlflow models serve`, same model, same worker count.

    .venv/bin/python benchmarks/online.py [--seconds 10] [--connections 8] [--model auto]

Starts both servers, checks they give the same predictions, warms them up, then loads them in
alternating rounds with single-row and 100-row requests. Prints requests/s, p50/p99 latency
(the median of the rounds' percentiles) and the ratios.
"""

from __future__ import annotations

import argparse
import json

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

TARGET_RPS_RATIO = 10.0
TARGET_P99_RATIO = 5.0


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
    loads: dict[tuple[str, str], list[Load]] = {}
    predictions = {}
    # Both servers stay up and are measured in alternating rounds: on a shared machine the
    # background load drifts, and interleaving exposes both to the same drift.
    with running(servers["mlflow"]), running(servers["serve"]):
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
    errors = sum(load.errors for load in results.values())
    if errors:
        raise SystemExit(f"{errors} failed requests during the benchmark")


if __name__ == "__main__":
    main()
