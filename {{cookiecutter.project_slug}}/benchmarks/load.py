"""Load benchmark: a bounded run of `serve` at fixed concurrency on loopback.

    .venv/bin/python benchmarks/load.py [--seconds 60] [--connections 8] [--model auto]

Reports requests, errors (must be zero), throughput, p50/p99 latency and the server's resident
memory (master + workers) after warm-up and after the run, so a leak or a crash under load
shows. Exits non-zero on any failed request.
"""

from __future__ import annotations

import argparse
import json

from _common import (
    generate_load,
    machine_note,
    model_under_test,
    ours,
    running,
    sample,
    split_payload,
    tree_rss_mb,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", choices=["auto", "champion", "reference"], default="auto")
    parser.add_argument(
        "--generator", choices=["auto", "wrk", "python"], default="auto", help="load generator"
    )
    args = parser.parse_args()
    if not 0 < args.seconds <= 600:
        raise SystemExit("--seconds must be in (0, 600]: the run is bounded on purpose")

    model = model_under_test(args.model)
    body = json.dumps({"input_data": split_payload(sample(model.source_rows, 1))}).encode()
    print(f"model: {model.description}\n{machine_note()}")
    server = ours(model.path, args.workers)
    with running(server) as process:
        generate_load(server.url, body, connections=2, seconds=5, generator=args.generator)
        before = tree_rss_mb(process.pid)
        load = generate_load(
            server.url,
            body,
            connections=args.connections,
            seconds=args.seconds,
            generator=args.generator,
        )
        after = tree_rss_mb(process.pid)
        alive = process.poll() is None
    print(
        f"{server.name}: {args.seconds:.0f} s at {args.connections} connections, "
        f"{args.workers} workers ({load.generator})\n"
        f"  requests {load.requests:,}  errors {load.errors}  {load.rps:.1f} req/s  "
        f"p50 {load.p50_ms:.1f} ms  p99 {load.p99_ms:.1f} ms\n"
        f"  server memory {before:.0f} MB after warm-up -> {after:.0f} MB after the run "
        f"({after - before:+.0f} MB); server still running: {alive}"
    )
    if load.errors or not alive:
        raise SystemExit("FAILED: errors under load")


if __name__ == "__main__":
    main()
