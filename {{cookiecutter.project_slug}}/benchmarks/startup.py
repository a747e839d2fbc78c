"""Start-up benchmark: the common commands against `python -c pass`, measured in the same run.

    .venv/bin/python benchmarks/startup.py [--repeat 5]

Every command runs as its own process with PYTHONDONTWRITEBYTECODE=1 (as on many CI runners and
in containers, where nothing caches bytecode for you), after one warm-up run. The table gives the
median wall time and CPU time (user + sys, from the kernel's rusage) of each, and the targets.
On a busy machine wall time grows with the load while CPU time barely moves, so the load
average is printed too. `models` reads this project's registry: train once (`run`) first, or it
only measures the "no versions" path. `import mlflow` is shown for scale: it is what `models`
paid before it read the local registry without MLflow.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT = Path(__file__).resolve().parents[1]
TARGETS = {"--help": 1.0, "models": 3.0}  # seconds of wall time on a warm, idle machine


def cli() -> list[str]:
    """The console script users type, or the module when the package is not installed."""
    script = Path(sys.executable).parent / PACKAGE
    return [str(script)] if script.exists() else [sys.executable, "-m", PACKAGE]


def sub_apps() -> list[str]:
    """Command groups mounted on the CLI (`azure`, `monitor`, ... when the project has them)."""
    from typer.main import get_command

    from {{ cookiecutter.package_name }}.cli import app

    commands = getattr(get_command(app), "commands", {})
    return sorted(name for name, command in commands.items() if hasattr(command, "commands"))


def contenders() -> dict[str, list[str]]:
    command = cli()
    runs = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "--help": [*command, "--help"],
        "models": [*command, "models"],
        "serve --help": [*command, "serve", "--help"],
    }
    runs.update({f"{name} --help": [*command, name, "--help"] for name in sub_apps()})
    runs["python -c 'import mlflow'"] = [sys.executable, "-c", "import mlflow"]
    return runs


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + sys) and exit code of one run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=PROJECT, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="Measured runs per command.")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("MLFLOW_TRACKING_URI", None)  # this project's own store, as a user would have
    rows = []
    for label, argv in contenders().items():
        measure(argv, env)  # warm-up: file cache, not bytecode (none is written)
        runs = [measure(argv, env) for _ in range(args.repeat)]
        wall = statistics.median(run[0] for run in runs)
        cpu = statistics.median(run[1] for run in runs)
        rows.append((label, wall, cpu, runs[-1][2]))
    baseline = rows[0][1]
    print(f"{'command':<28} {'wall s':>7} {'cpu s':>7} {'x pass':>7}  exit  target")
    for label, wall, cpu, code in rows:
        target = TARGETS.get(label)
        verdict = ""
        if target is not None:
            verdict = f"<= {target:.0f} s: {'ok' if wall <= target else 'OVER'}"
        print(f"{label:<28} {wall:7.2f} {cpu:7.2f} {wall / baseline:7.0f}  {code:>4}  {verdict}")
    load = os.getloadavg()[0]
    print(
        f"median of {args.repeat} runs after a warm-up, PYTHONDONTWRITEBYTECODE=1; "
        f"{os.cpu_count()} CPUs, load average {load:.1f}; {shutil.which(cli()[0]) or cli()[0]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
