"""What the benchmark phases share: output, statistics, servers, the load generator."""

# ruff: noqa: S603, S607, S107

import json
import math
import os
import platform
import re
import resource
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import requests

from .data import DATA_DIR, LIBRARIAN_EMAIL, LIBRARIAN_PASSWORD, PG_ADMIN_URL, ROOT

BENCH_DIR = ROOT / "bench"
RESULTS = DATA_DIR / "last-run.jsonl"
SECRET_KEY = secrets.token_urlsafe(48)
# gunicorn worker processes: the README's production command says --workers 4; this
# machine has 2 cores, and 4 sync workers (2 per core) keep both cores busy while some
# workers wait on the database. Override with BENCH_WORKERS.
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))


# ---- output ------------------------------------------------------------------------


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(record):
    """One JSON line per figure on stdout (and in bench/.data/last-run.jsonl)."""
    line = json.dumps(record, ensure_ascii=False)
    print(line, flush=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def start_results():
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, p):
    """Nearest-rank percentile of a list of numbers: the smallest value with at
    least p % of the values at or below it (of 20, the 95th is the 19th)."""
    ordered = sorted(values)
    if not ordered:
        return None
    k = max(0, min(len(ordered) - 1, math.ceil(p * len(ordered) / 100) - 1))
    return ordered[k]


def r(value, digits=1):
    return None if value is None else round(value, digits)


# ---- the machine -------------------------------------------------------------------


def machine():
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    try:
        with psycopg.connect(PG_ADMIN_URL) as conn:
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
            pg_settings = dict(
                conn.execute(
                    "SELECT name, setting || COALESCE(unit, '') FROM pg_settings WHERE name IN "
                    "('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', "
                    "'autovacuum')"
                ).fetchall()
            )
    except psycopg.Error as exc:
        pg_version, pg_settings = f"unreachable: {exc}", {}
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    import gunicorn

    return {
        "figure": "machine",
        "cpus": os.cpu_count(),
        "cpu_model": models[0] if models else platform.processor(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg_version,
        "postgresql_settings": pg_settings,
        "psycopg": psycopg.__version__,
        "gunicorn": gunicorn.__version__,
        "gunicorn_workers": WORKERS,
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "",
        "loadavg_at_start": os.getloadavg()[0],
    }


def cpu_times():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


JIFFY_MS = 1000 / os.sysconf("SC_CLK_TCK")


def process_jiffies(pids):
    """utime + stime of `pids` (those still running), from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def postgres_jiffies():
    """utime + stime of every PostgreSQL process on this machine (its backends and its
    background writers alike: all of it is the load's), from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(entry.name)
    return process_jiffies(pids)


# ---- servers -----------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with the README's production settings, on one database."""

    def __init__(self, name, module, env, log_path):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--no-control-socket",  # no shared socket under ~/.gunicorn
            module,
        ]
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.proc = None

    def __enter__(self):
        with open(self.log_path, "wb") as log_file:
            self.proc = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited while starting:\n{self.log_path.read_text()[-3000:]}"
                )
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"{self.name} gave no healthy /healthz in 60 s")

    def cpu_jiffies(self):
        """utime + stime of the master and its workers, from /proc."""
        pids = [self.proc.pid]
        with suppress(OSError):
            pids += Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return process_jiffies(pids)

    def wait_idle(self, timeout=60):
        """Wait until the workers have finished what the load left queued (no CPU used
        for 0.3 s): wrk stops sending at the deadline, but gunicorn still answers the
        requests it had accepted, and the next run must not overlap them."""
        deadline = time.monotonic() + timeout
        quiet, last = 0, self.cpu_jiffies()
        while time.monotonic() < deadline and quiet < 3:
            time.sleep(0.1)
            now = self.cpu_jiffies()
            quiet = quiet + 1 if now - last <= 1 else 0
            last = now

    def __exit__(self, *_exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def app_env(db):
    return {
        "DATABASE_URL": db.url,
        "LIBRARY_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
    }


@contextmanager
def app_server(db, tag):
    with Server(f"app-{tag}", "wsgi:app", app_env(db), DATA_DIR / f"gunicorn-app-{tag}.log") as s:
        yield s


@contextmanager
def ceiling_server(db, tag, flavor="bare"):
    """bench/ceiling.py: `app` (bare WSGI) or `flask_app` (the same write under Flask)."""
    env = {"BENCH_CEILING_DB": db.url}
    module = "bench.ceiling:app" if flavor == "bare" else "bench.ceiling:flask_app"
    name = f"ceiling-{flavor}-{tag}"
    with Server(name, module, env, DATA_DIR / f"gunicorn-{name}.log") as s:
        yield s


def login(server):
    """A bearer token for the benchmark's librarian, through POST /api/v1/auth/login."""
    reply = requests.post(
        f"{server.url}/api/v1/auth/login",
        json={"email": LIBRARIAN_EMAIL, "password": LIBRARIAN_PASSWORD},
        timeout=30,
    )
    reply.raise_for_status()
    return reply.json()["access_token"]


# ---- the load generator ------------------------------------------------------------


def wrk(url, *, mode, clients, seconds, token="-", readers, books, offset, meters=None):
    """Run wrk with bench/cycle.lua; its summary, with the client's and machine's CPU use.

    `meters`: name -> a function giving the CPU jiffies of some processes (the server's,
    the database's); what each spent during the run is reported per request, beside
    the client's and the whole machine's (`cpu_ms_per_request`).
    """
    meters = meters or {}
    command = [
        "wrk",
        "-t",
        str(clients),
        "-c",
        str(clients),
        "-d",
        f"{seconds}s",
        "--timeout",
        "30s",
        "-s",
        str(BENCH_DIR / "cycle.lua"),
        url,
        "--",
        mode,
        token,
        str(readers),
        str(books),
        str(clients),
        str(offset),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    metered = {name: meter() for name, meter in meters.items()}
    busy0, total0 = cpu_times()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    busy1, total1 = cpu_times()
    metered = {name: meter() - metered[name] for name, meter in meters.items()}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary:\n{done.stdout}\n{done.stderr}")
    result = json.loads(line.removeprefix("BENCHJSON "))
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["client_cpu_core_pct"] = 100 * client_cpu / elapsed
    result["machine_busy_pct"] = 100 * (busy1 - busy0) / max(1, total1 - total0)
    seconds_run = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / seconds_run
    result["cycles_per_s"] = result["cycles"] / seconds_run
    per_request = JIFFY_MS / max(1, result["requests"])
    result["cpu_ms_per_request"] = {
        **{name: jiffies * per_request for name, jiffies in metered.items()},
        "client": 1000 * client_cpu / max(1, result["requests"]),
        "machine": (busy1 - busy0) * per_request,
    }
    result["errors_total"] = (
        sum(result["errors"].values())
        - result["errors"]["status"]
        + sum(n for key, n in result["statuses"].items() if not key.split()[-1].startswith("2"))
    )
    return result
