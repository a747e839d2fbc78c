"""Shared benchmark plumbing: the model under test, servers, load generation, memory.

Every benchmark compares against a peer measured in the same run on the same model, so the
ratios stay meaningful on a busy machine even when the absolute numbers do not.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import psutil
import requests

from {{ cookiecutter.package_name }}.drift_reference import save_reference
from {{ cookiecutter.package_name }}.serving.local import (
    ServingError,
    resolve_model_dir,
    server_command,
    server_environment,
)
from {{ cookiecutter.package_name }}.serving.scoring import find_model_dir, store_fast_path
from {{ cookiecutter.package_name }}.serving.stored import RECORD_FILE

PROJECT = Path(__file__).resolve().parents[1]
CACHE = PROJECT / ".benchmarks"
BIN = Path(sys.executable).parent
REFERENCE = (
    "reference model: 30 columns (26 numeric, 4 text), impute + scale/one-hot + logistic regression"
)


@dataclass(frozen=True)
class ModelUnderTest:
    path: Path  # the MLflow model folder
    description: str
    source_rows: pd.DataFrame  # realistic feature rows to sample requests and files from


def model_under_test(choice: str) -> ModelUnderTest:
    """The champion when there is one (`auto`), else the reference model; say which."""
    if choice in ("auto", "champion"):
        try:
            version_dir = resolve_model_dir(None)
        except ServingError as error:
            if choice == "champion":
                sys.exit(f"error: {error}")
            print(f"note: {error}; benchmarking the {REFERENCE} instead", file=sys.stderr)
        else:
            from {{ cookiecutter.package_name }}.config import load_settings

            settings = load_settings()
            rows = pd.read_csv(settings.data_path).drop(columns=[settings.data.target])
            return ModelUnderTest(
                find_model_dir(version_dir), f"champion ({version_dir.name})", rows
            )
    return reference_model()


def cache_dir() -> Path:
    """`.benchmarks/` holds generated models and files; it ignores itself in git."""
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    return CACHE


def reference_model() -> ModelUnderTest:
    """A model shaped like the anchors' (30 features) saved the way the pipeline saves models."""
    folder = CACHE / "reference-model"
    rows = _reference_rows(5_000)
    if not (folder / RECORD_FILE).is_file():  # not yet built, or built before it was stored
        shutil.rmtree(folder, ignore_errors=True)
        import mlflow.sklearn
        from mlflow.models import infer_signature
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        numeric = [c for c in rows if c.startswith("x")]
        text = [c for c in rows if c.startswith("c")]
        target = (rows["x0"].fillna(0) + (rows["c0"] == "a") > 0.5).astype(int)
        model = Pipeline(
            [
                (
                    "preprocess",
                    ColumnTransformer(
                        [
                            ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
                            (
                                "cat",
                                make_pipeline(
                                    SimpleImputer(strategy="constant", fill_value="missing"),
                                    OneHotEncoder(
                                        handle_unknown="infrequent_if_exist", sparse_output=False
                                    ),
                                ),
                                text,
                            ),
                        ]
                    ),
                ),
                ("model", LogisticRegression(max_iter=1000)),
            ]
        ).fit(rows, target)
        staging = Path(tempfile.mkdtemp(dir=cache_dir()))
        mlflow.sklearn.save_model(
            model,
            str(staging / "model"),
            signature=infer_signature(rows, model.predict(rows.head(50))),
            input_example=rows.head(3),
            skops_trusted_types=["numpy.dtype"],
        )
        # As the training step does: the drift reference (also the fast path's parity rows)
        # and the verified fast path are stored with the model.
        save_reference(rows, model, staging / "model", rows=1_000, seed=0)
        store_fast_path(model, staging / "model")
        (staging / "model").rename(folder)
        shutil.rmtree(staging, ignore_errors=True)
    return ModelUnderTest(folder, REFERENCE, rows)


def _reference_rows(count: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {f"x{i}": rng.normal(size=count) for i in range(26)}
    columns |= {f"c{i}": rng.choice(list("abcdef"), size=count).astype(object) for i in range(4)}
    frame = pd.DataFrame(columns)
    frame.loc[frame.index % 7 == 0, "x1"] = np.nan
    frame.loc[frame.index % 9 == 0, "c1"] = np.nan
    return frame


def sample(rows: pd.DataFrame, count: int, seed: int = 1) -> pd.DataFrame:
    return rows.sample(count, replace=True, random_state=seed).reset_index(drop=True)


def split_payload(frame: pd.DataFrame) -> dict:
    """`{"columns": [...], "data": [[...]]}` with missing values as JSON null."""
    return json.loads(frame.to_json(orient="split", index=False))


# --- servers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    health_path: str
    score_path: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.score_path}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ours(model: Path, workers: int, inference_log_dir: Path | None = None) -> Server:
    port = free_port()
    return Server(
        "serve + inference log" if inference_log_dir else "serve (azmlinfsrv + score.py)",
        server_command(port, workers, "127.0.0.1"),
        server_environment(model, inference_log_dir),
        "/",
        "/score",
        port,
    )


def mlflow_serve(model: Path, workers: int) -> Server:
    port = free_port()
    command = [str(BIN / "mlflow"), "models", "serve", "-m", str(model), "-h", "127.0.0.1"]
    command += ["-p", str(port), "-w", str(workers), "--env-manager", "local"]
    # Same thread settings as ours, so the comparison is about the servers, not BLAS.
    return Server(
        "mlflow models serve",
        command,
        # It launches `uvicorn` by name, so the venv's bin must be on PATH.
        dict(os.environ, OMP_NUM_THREADS="1", PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"),
        "/ping",
        "/invocations",
        port,
    )


@contextmanager
def running(server: Server, timeout: float = 240) -> Iterator[subprocess.Popen]:
    """Start a server in its own process group, wait for health, always stop it."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            server.command, env=server.env, stdout=log, stderr=log, start_new_session=True
        )
        try:
            _wait_healthy(server, process, log, timeout)
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # the group we created: server + workers
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _wait_healthy(server: Server, process: subprocess.Popen, log: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    health = f"http://127.0.0.1:{server.port}{server.health_path}"
    while True:
        if process.poll() is not None:
            log.seek(0)
            tail = log.read()[-3000:].decode(errors="replace")
            raise RuntimeError(f"{server.name} exited with {process.returncode}:\n{tail}")
        try:
            if requests.get(health, timeout=5).ok:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # gunicorn accepts connections before its workers have loaded the model
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server.name} not healthy after {timeout:.0f} s")
        time.sleep(0.3)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a server: the master plus all its workers."""
    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)]
    return sum(p.memory_info().rss for p in processes) / 2**20


# --- load generation ---------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    generator: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def combine(runs: list[Load]) -> Load:
    """Rounds of one case: total throughput, and the median of the rounds' percentiles."""
    return Load(
        requests=sum(r.requests for r in runs),
        errors=sum(r.errors for r in runs),
        seconds=sum(r.seconds for r in runs),
        p50_ms=float(np.median([r.p50_ms for r in runs])),
        p99_ms=float(np.median([r.p99_ms for r in runs])),
        generator=runs[0].generator,
    )


def generate_load(
    url: str, body: bytes, *, connections: int, seconds: float, generator: str = "auto"
) -> Load:
    """wrk when installed (C, cheap on a 2-core box), else a Python generator from the deps.

    The Python one spends the machine's CPU on the client too, so on a small box it measures
    lower throughput for every server alike; the ratios remain comparable within a run.
    """
    if generator == "wrk" or (generator == "auto" and shutil.which("wrk")):
        return _wrk(url, body, connections, seconds)
    return _python_load(url, body, connections, seconds)


def _wrk(url: str, body: bytes, connections: int, seconds: float) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [==[{body.decode()}]==]\n"
        )
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency"]
        result = subprocess.run(
            [*command, "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(script.name)
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", result)
    elapsed = float(total.group(2)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", result)
    socket_errors = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", result)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Load(
        requests=int(total.group(1)),
        errors=errors,
        seconds=elapsed,
        p50_ms=_wrk_ms(result, "50%"),
        p99_ms=_wrk_ms(result, "99%"),
        generator="wrk",
    )


def _wrk_ms(output: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", output).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def _python_load(url: str, body: bytes, connections: int, seconds: float) -> Load:
    processes = min(connections, os.cpu_count() or 1)
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    deadline = time.time() + seconds
    with ProcessPoolExecutor(processes) as pool:
        parts = list(
            pool.map(
                _load_process, [url] * processes, [body] * processes, shares, [deadline] * processes
            )
        )
    latencies = np.concatenate([np.asarray(p[0]) for p in parts]) if parts else np.array([])
    errors = sum(p[1] for p in parts)
    return Load(
        requests=len(latencies) + errors,
        errors=errors,
        seconds=seconds,
        p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else float("nan"),
        p99_ms=float(np.percentile(latencies, 99)) if len(latencies) else float("nan"),
        generator="python (http.client)",
    )


def _load_process(url: str, body: bytes, threads: int, deadline: float) -> tuple[list, int]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda _: _load_thread(url, body, deadline), range(threads)))
    return [ms for p in parts for ms in p[0]], sum(p[1] for p in parts)


def _load_thread(url: str, body: bytes, deadline: float) -> tuple[list[float], int]:
    parsed = urlparse(url)
    latencies, errors = [], 0
    headers = {"Content-Type": "application/json"}
    while time.time() < deadline:
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        started = time.perf_counter()
        try:
            connection.request("POST", parsed.path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                latencies.append((time.perf_counter() - started) * 1e3)
            else:
                errors += 1
        except OSError:
            errors += 1
        finally:
            connection.close()
    return latencies, errors


# Runs the command and reports its rusage. A child's peak RSS (ru_maxrss) starts from the memory
# of the process that forked it: the kernel carries the old address space's high-water mark
# across exec, and Python's subprocess forks with vfork, so a command started straight from
# this benchmark (which holds the generated data, 800 MB and more) would report this process's
# peak, not its own (seen 5 Dec 2026: `python -c pass` reported 811 MB). Started from a fresh
# small launcher, its floor is the launcher's ~11 MB.
_LAUNCHER = """
import json, os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as report:
    json.dump({"exit": os.waitstatus_to_exitcode(status), "peak_kb": usage.ru_maxrss}, report)
"""


def measured_run(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command to completion; return (seconds, peak RSS in MB of it and its children)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "usage.json"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-I", "-c", _LAUNCHER, str(report), *command], env=env, check=True
        )
        seconds = time.perf_counter() - started
        usage = json.loads(report.read_text())
    if usage["exit"] != 0:
        raise RuntimeError(f"{command[:4]} failed with exit code {usage['exit']}")
    return seconds, usage["peak_kb"] / 1024  # Linux reports kilobytes


def machine_note() -> str:
    load1, _, _ = os.getloadavg()
    return (
        f"machine: {os.cpu_count()} cores, load average {load1:.1f} at start "
        "(other work on the machine makes absolute numbers noisy; ratios are same-run)"
    )
