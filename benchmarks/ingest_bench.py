"""`make bench`: trackyard's ingestion rates next to this machine's ceilings,
all measured in one run (docs/performance.md).

    .venv/bin/python benchmarks/ingest_bench.py       # sizes from BENCH_* variables

Servers run as in production (`trackyard serve --workers 2`: uvicorn, uvloop,
httptools) on loopback; `wrk` with the Lua scripts in `benchmarks/wrk/` drives
them. Every figure is the median of BENCH_RUNS runs of BENCH_SECONDS seconds.
"""

from __future__ import annotations

import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from ceilings import (  # noqa: E402
    fill_sqlite,
    postgres_copy_rate,
    sqlite_bulk_rates,
    validated_batches,
)
from procfs import cpu_times, process_tree, vm_hwm_kb  # noqa: E402
from workload import engage_template, track_template, write_import_bodies  # noqa: E402

from tests.live_server import cli, free_port, wait_ready  # noqa: E402
from tests.postgres import fresh_database  # noqa: E402


def _env(name: str, default: int) -> int:
    return int(os.environ.get(f"BENCH_{name}", default))


RUNS = _env("RUNS", 3)
SECONDS = _env("SECONDS", 8)
WORKERS = _env("WORKERS", 2)
BATCH = _env("BATCH", 2000)
IMPORT_BODIES = _env("IMPORT_BODIES", 1600)  # distinct bodies per variant: none is sent twice
IMPORT_CONNECTIONS = _env("IMPORT_CONNECTIONS", 8)
TRACK_CONNECTIONS = _env("TRACK_CONNECTIONS", 64)
BULK_BATCHES = _env("BULK_BATCHES", 50)  # 2000-row transactions per ceiling run
GROWTH_EVENTS = _env("GROWTH_EVENTS", 10_000_000)
POSTGRES = _env("POSTGRES", 1)
IMPORT_VARIANTS = {
    "json": ("application/json", ""),
    "gzip": ("application/json", "gzip"),
    "ndjson": ("application/x-ndjson", ""),
}


@dataclass
class Figure:
    """The runs of one measurement; `unit` events/s or requests/s."""

    unit: str
    rates: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # events or requests per run
    records_per_commit: list[float] = field(default_factory=list)  # trackyard's group commits
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    rss_mb: float | None = None
    # CPU per event or request (µs): servers' event loops, their other
    # threads, `wrk`; and how many cores all of them kept busy.
    loop_us: list[float] = field(default_factory=list)
    other_us: list[float] = field(default_factory=list)
    wrk_us: list[float] = field(default_factory=list)
    busy_cores: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    def median(self, values: list[float]) -> float | None:
        return statistics.median(values) if values else None


# Servers ---------------------------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    project: dict[str, Any]

    def peak_rss_mb(self) -> float:
        """The largest peak RSS (VmHWM) among the server's processes."""
        peaks = [vm_hwm_kb(pid) for pid in process_tree(self.process.pid)]
        return max(peaks, default=0) / 1024


@contextmanager
def running(command: list[str], project: dict[str, Any], log: Path, port: int) -> Iterator[Server]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            # /healthz: the bare app answers any path, and has no store to be ready.
            wait_ready(url, process, log, path="/healthz", seconds=60)
            yield Server(url, process, project)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def trackyard(tmp: Path, name: str, db: Path, store: str = "") -> Any:
    project = cli(db, "projects", "create", "Bench", store=store)
    port = free_port()
    command = [sys.executable, "-m", "trackyard.cli", "serve", "--db", str(db), "--port", str(port)]
    command += ["--workers", str(WORKERS), "--log-level", "warning"]
    command += ["--store", store] if store else []
    return running(command, project, tmp / f"{name}.log", port)


def bare_app(tmp: Path) -> Any:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(HERE)]
    command += ["--port", str(port), "--workers", str(WORKERS), "--loop", "uvloop"]
    command += ["--http", "httptools", "--no-access-log", "--log-level", "warning"]
    return running(command, {}, tmp / "bare.log", port)


# wrk -------------------------------------------------------------------------


class Wrk:
    def __init__(self, tmp: Path) -> None:
        report = (HERE / "wrk" / "report.lua").read_text()
        self.scripts = {}
        for name in ("post_files", "post_template"):
            path = tmp / f"{name}.lua"
            path.write_text((HERE / "wrk" / f"{name}.lua").read_text() + "\n" + report)
            self.scripts[name] = path
        self.runs = 0

    def run(self, url: str, script: str, connections: int, args: list[str]) -> dict[str, Any]:
        self.runs += 1
        command = ["wrk", "-t1", f"-c{connections}", f"-d{SECONDS}s", "--timeout", "30s"]
        command += ["-s", str(self.scripts[script]), url, "--", *args]
        before = os.times()
        out = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS + 60)
        after = os.times()
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("WRK ")]
        if not lines:
            raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
        result: dict[str, Any] = orjson.loads(lines[-1][4:])
        # The only child waited for meanwhile: its CPU is wrk's.
        result["cpu_s"] = sum(after[2:4]) - sum(before[2:4])
        if result["non2xx"] or result["socket_errors"]:
            print(
                f"    warning: {result['non2xx']} non-2xx, {result['socket_errors']} socket errors"
            )
        return result


def settle(url: str) -> None:
    """Wait until the writers have drained what the last run left queued: wrk
    stops the clock with requests still in flight, which would slow the next run.
    /readyz queues behind its process's writer; ask often enough to reach both."""
    for _ in range(4 * WORKERS):
        with suppress(httpx.HTTPError):
            httpx.get(f"{url}/readyz", timeout=120)


def measure(
    server: Server, runs: Callable[[int], dict[str, Any]], figure: Figure, per_request: int = 1
) -> Figure:
    for n in range(RUNS):
        settle(server.url)
        before = cpu_times(server.process.pid)
        result = runs(n)
        used = cpu_times(server.process.pid) - before
        ok = result["requests"] - result["non2xx"]
        count = max(ok * per_request, 1)
        seconds = result["duration_us"] / 1e6
        figure.counts.append(ok * per_request)
        figure.rates.append(ok * per_request / seconds)
        figure.p50_ms.append(result["p50_us"] / 1000)
        figure.p99_ms.append(result["p99_us"] / 1000)
        figure.loop_us.append(used.loops / count * 1e6)
        figure.other_us.append(used.others / count * 1e6)
        figure.wrk_us.append(result["cpu_s"] / count * 1e6)
        figure.busy_cores.append((used.loops + used.others + result["cpu_s"]) / seconds)
        print(f"    run {n + 1}: {figure.rates[-1]:>10,.0f} {figure.unit}", flush=True)
    return figure


def writer_totals(url: str) -> tuple[float, float]:
    """(events stored, group transactions committed) so far, from /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    stored = commits = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "trackyard_events_total" and sample.labels.get("outcome") == "stored":
                stored += sample.value
            if (
                sample.name == "trackyard_commits_total"
                and sample.labels.get("result") == "committed"
            ):
                commits += sample.value
    return stored, commits


def basic_auth(project: dict[str, Any]) -> str:
    account = project["service_account"]
    pair = f"{account['username']}:{account['secret']}".encode()
    return "Basic " + base64.b64encode(pair).decode()


class Driver:
    """Runs each endpoint's load against one server, never repeating an event."""

    def __init__(self, wrk: Wrk, bodies: Path, now_s: int) -> None:
        self.wrk, self.bodies, self.now_s = wrk, bodies, now_s
        self.sent: dict[tuple[str, str], int] = {}

    def import_events(self, server: Server, variant: str) -> Figure:
        content_type, encoding = IMPORT_VARIANTS[variant]
        project = server.project
        path = f"/import?strict=1&project_id={project.get('project_id', 1)}"
        auth = basic_auth(project) if project else ""

        figure = Figure("events/s")

        def one(_: int) -> dict[str, Any]:
            before = writer_totals(server.url) if project else None
            first = self.sent.get((server.url, variant), 0)
            args = [str(self.bodies / variant), str(first), str(IMPORT_BODIES), path]
            result = self.wrk.run(
                server.url,
                "post_files",
                IMPORT_CONNECTIONS,
                [*args, content_type, encoding, auth, "1"],
            )
            self.sent[(server.url, variant)] = first + result["requests"] + IMPORT_CONNECTIONS
            if before is not None:
                stored, commits = writer_totals(server.url)
                per_commit = (stored - before[0]) / max(commits - before[1], 1)
                figure.records_per_commit.append(per_commit)
            if project and first + result["requests"] > IMPORT_BODIES:
                print("    warning: bodies reused (raise BENCH_IMPORT_BODIES): duplicates measured")
            return result

        return measure(server, one, figure, BATCH)

    def form(self, server: Server, path: str, template: tuple[str, str]) -> Figure:
        def one(n: int) -> dict[str, Any]:
            run = self.wrk.runs
            return self.wrk.run(
                server.url, "post_template", TRACK_CONNECTIONS, [path, *template, str(run)]
            )

        return measure(server, one, Figure("requests/s"))


# The run ---------------------------------------------------------------------


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `make bench` installs it (apt-get install -y wrk)")
    now_s = int(time.time())
    figures: dict[str, Figure] = {}
    with tempfile.TemporaryDirectory(prefix="trackyard-bench-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"writing {IMPORT_BODIES} bodies of {BATCH} events per variant ...", flush=True)
        for variant in IMPORT_VARIANTS:
            write_import_bodies(tmp / "bodies" / variant, variant, IMPORT_BODIES, BATCH, now_s)
        wrk = Wrk(tmp)
        run_sqlite(tmp, wrk, now_s, figures)
        if POSTGRES:
            run_postgres(tmp, wrk, now_s, figures)
    print_table(figures)
    print_cpu(figures)


def run_sqlite(tmp: Path, wrk: Wrk, now_s: int, figures: dict[str, Figure]) -> None:
    driver = Driver(wrk, tmp / "bodies", now_s)
    print("ceiling (a): bare ASGI app decoding the same bodies", flush=True)
    with bare_app(tmp) as bare:
        for variant in IMPORT_VARIANTS:
            print(f"  /import {variant}", flush=True)
            figures[f"bare import {variant}"] = driver.import_events(bare, variant)
        token = "0" * 32
        print("  /track", flush=True)
        figures["bare track"] = driver.form(bare, "/track", track_template(token, now_s))
        print("  /engage", flush=True)
        figures["bare engage"] = driver.form(bare, "/engage", engage_template(token))

    print(f"trackyard, SQLite, {WORKERS} processes, a fresh store per endpoint", flush=True)
    for variant in IMPORT_VARIANTS:
        with trackyard(tmp, f"sqlite-{variant}", tmp / f"sqlite-{variant}.db") as server:
            print(f"  /import {variant}", flush=True)
            figure = figures[f"sqlite import {variant}"] = driver.import_events(server, variant)
            figure.rss_mb = server.peak_rss_mb()
        print(f"  ceiling (b) for {variant}: the same rows, storage only", flush=True)
        figures[f"bulk sqlite {variant}"] = bulk_sqlite(tmp, variant, figure, now_s)
    with trackyard(tmp, "sqlite-track", tmp / "sqlite-track.db") as server:
        token = server.project["token"]
        print("  /track", flush=True)
        figures["sqlite track"] = driver.form(server, "/track", track_template(token, now_s))
        figures["sqlite track"].rss_mb = server.peak_rss_mb()
        print("  /engage", flush=True)
        figures["sqlite engage"] = driver.form(server, "/engage", engage_template(token))
        figures["sqlite engage"].rss_mb = server.peak_rss_mb()
    if GROWTH_EVENTS:
        run_growth(tmp, driver, now_s, figures)


def bulk_sqlite(tmp: Path, variant: str, served: Figure, now_s: int) -> Figure:
    """Ceiling (b): run by run as many rows as trackyard stored, into a file
    that grows as its store did, in transactions of as many whole bodies as
    trackyard's group commits held on average (ceilings.py)."""
    bodies = max(1, round(statistics.median(served.records_per_commit) / BATCH))
    print(f"    {bodies} bodies per transaction, as trackyard's group commits", flush=True)
    db = tmp / f"bulk-{variant}.db"
    project = cli(db, "projects", "create", "Bulk")
    figure = Figure("events/s")
    figure.rates = sqlite_bulk_rates(
        str(db), project["project_id"], served.counts, BATCH, bodies, variant, now_s
    )
    for n, rate in enumerate(figure.rates):
        print(f"    run {n + 1}: {rate:>10,.0f} events/s", flush=True)
    return figure


def run_growth(tmp: Path, driver: Driver, now_s: int, figures: dict[str, Figure]) -> None:
    print(f"growth: {GROWTH_EVENTS:,} events stored by bulk SQL first", flush=True)
    db = tmp / "growth.db"
    project = cli(db, "projects", "create", "Growth")
    seconds = fill_sqlite(str(db), project["project_id"], GROWTH_EVENTS, (now_s - 86_400) * 1000)
    print(f"    filled in {seconds:.0f} s", flush=True)
    with trackyard(tmp, "growth", db) as server:
        server.project = project
        print("  /import json", flush=True)
        figures["growth import json"] = driver.import_events(server, "json")
        figures["growth import json"].rss_mb = server.peak_rss_mb()


def run_postgres(tmp: Path, wrk: Wrk, now_s: int, figures: dict[str, Figure]) -> None:
    driver = Driver(wrk, tmp / "bodies", now_s)
    print("PostgreSQL: COPY of the same rows (no HTTP, no validation)", flush=True)
    with fresh_database() as url:
        project = cli(tmp / "unused.db", "projects", "create", "Bulk", store=url)
        ways = {
            how: figures.setdefault(f"bulk postgres {how}", Figure("events/s"))
            for how in ("staged", "direct")
        }
        for n in range(RUNS):  # alternating, so that both see the table at the same sizes
            for how, figure in ways.items():
                batches = list(validated_batches(f"pg-{how}{n}-", BULK_BATCHES, BATCH, now_s))
                figure.rates.append(postgres_copy_rate(url, project["project_id"], batches, how))
                print(f"    run {n + 1}, {how}: {figure.rates[-1]:>10,.0f} events/s", flush=True)
    print(f"trackyard, PostgreSQL, {WORKERS} processes", flush=True)
    with fresh_database() as url, trackyard(tmp, "postgres", tmp / "unused.db", url) as server:
        print("  /import json", flush=True)
        figures["postgres import json"] = driver.import_events(server, "json")
        figures["postgres import json"].rss_mb = server.peak_rss_mb()


# The table -------------------------------------------------------------------


def ceiling(figures: dict[str, Figure], a: str, b: str) -> float:
    """Two stages done one after the other: 1 / (1/a + 1/b)."""
    return 1 / (1 / figures[a].rate + 1 / figures[b].rate)


def print_table(figures: dict[str, Figure]) -> None:
    rows: list[tuple[str, Figure | None, float | None, str]] = []
    for variant in IMPORT_VARIANTS:
        c = ceiling(figures, f"bare import {variant}", f"bulk sqlite {variant}")
        rows.append(
            (f"/import {variant}, SQLite", figures[f"sqlite import {variant}"], c, "1/(1/a+1/b)")
        )
    rows.append(
        ("/track, SQLite, 64 conn", figures["sqlite track"], figures["bare track"].rate, "bare app")
    )
    rows.append(
        (
            "/engage, SQLite, 64 conn",
            figures["sqlite engage"],
            figures["bare engage"].rate,
            "bare app",
        )
    )
    if "growth import json" in figures:
        growth = figures["growth import json"]
        label = f"/import json, SQLite, {GROWTH_EVENTS / 1e6:g}M stored"
        rows.append((label, growth, figures["sqlite import json"].rate, "empty store"))
    if "postgres import json" in figures:
        for how in ("staged", "direct"):
            rows.append(
                (
                    "/import json, PostgreSQL",
                    figures["postgres import json"],
                    figures[f"bulk postgres {how}"].rate,
                    f"{how} COPY",
                )
            )
    print(f"\nmedian of {RUNS} runs x {SECONDS} s, {WORKERS} server processes, batches of {BATCH}")
    header = f"{'':36} {'rate':>14} {'p50 ms':>8} {'p99 ms':>8} {'peak RSS':>9} {'ceiling':>10} {'ratio':>6}  of"
    print(header)
    print("-" * len(header))
    for label, fig, ceil, of in rows:
        assert fig is not None
        unit = "ev/s" if fig.unit == "events/s" else "req/s"
        rss = f"{fig.rss_mb:.0f} MB" if fig.rss_mb else ""
        p50 = fig.median(fig.p50_ms)
        p99 = fig.median(fig.p99_ms)
        print(
            f"{label:36} {fig.rate:>9,.0f} {unit:>4} {_ms(p50):>8} {_ms(p99):>8} {rss:>9}"
            f" {ceil or 0:>10,.0f} {fig.rate / ceil if ceil else 0:>6.2f}  {of}"
        )
    print("\nceilings and storage-only rates:")
    for key in sorted(figures):
        if key.startswith(("bare", "bulk")):
            fig = figures[key]
            print(
                f"  {key:28} {fig.rate:>10,.0f} {fig.unit}  runs: {', '.join(f'{r:,.0f}' for r in fig.rates)}"
            )


def print_cpu(figures: dict[str, Figure]) -> None:
    """Where each figure's CPU went: what bounds a rate on shared cores."""
    print(
        f"\nCPU per event or request (µs) and cores busy (of {os.cpu_count()}),"
        " medians; PostgreSQL's own processes not counted:"
    )
    print(f"  {'':28} {'event loops':>12} {'other threads':>14} {'wrk':>7} {'cores busy':>11}")
    for key in sorted(figures):
        fig = figures[key]
        if fig.loop_us:
            print(
                f"  {key:28} {fig.median(fig.loop_us):>12.1f} {fig.median(fig.other_us):>14.1f}"
                f" {fig.median(fig.wrk_us):>7.1f} {fig.median(fig.busy_cores):>11.2f}"
            )


def _ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else ""


if __name__ == "__main__":
    main()
