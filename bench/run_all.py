"""Run every benchmark and write their tables and plots into docs/benchmarks.md.

    pip install -e '.[bench]'          # matplotlib for the plots
    python bench/run_all.py            # everything, as documented in docs/benchmarks.md
    python bench/run_all.py --only relay_peerjs,memory_per_socket --quick

Runs, in order: relay_peerjs, memory_per_socket, ring_latency, engine_throughput,
call_rate, then every other ``bench/*.py`` whose ``--help`` offers ``--json``. A bench
that is missing, fails or times out is reported as skipped with the reason; the others
still run. Each bench's JSON is kept in ``bench/results/<name>.json``; the tables, the
machine (CPU, cores, kernel) and the versions (Python, uvicorn, websockets, node, peer)
and PNG plots (``docs/images/bench-*.png``) replace what is between the
``<!-- bench:run_all -->`` markers of docs/benchmarks.md. Nothing else there changes.
``--quick`` is a smoke run: it prints the block instead (no plots) and keeps its JSON in
``bench/results/quick/``, so its figures never stand in for a full run's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
IMAGES = ROOT / "docs" / "images"
RESULTS = BENCH / "results"
START = "<!-- bench:run_all:start -->"
END = "<!-- bench:run_all:end -->"

#: (bench, arguments, arguments with --quick); benches that print JSON without --json
#: are marked by leaving --json out of their arguments
#: the servers on CPU 0 and the load on CPU 1 where there are two: the loaded server and
#: its clients then do not take turns on one core (they did on a busy 2-core machine)
_PIN_RELAY = ["--pin-server", "0", "--pin-client", "1"] if (os.cpu_count() or 1) >= 2 else []
_PIN_CALLS = ["--pin-server", "0", "--pin-generator", "1"] if (os.cpu_count() or 1) >= 2 else []
PLAN: list[tuple[str, list[str], list[str]]] = [
    ("relay_peerjs", ["--json", "--rounds", "3", *_PIN_RELAY],
     ["--json", "--seconds", "3", *_PIN_RELAY]),
    ("memory_per_socket", ["--json"], ["--json", "--sockets", "2000"]),
    ("ring_latency", [], ["--samples", "100", "--waiting", "200"]),
    ("engine_throughput", ["--json"], ["--json", "--events", "5000", "--warm-up", "10"]),
    ("call_rate", ["--json", "--rates", "100,200,300,400,500,600,700", "--step", "10",
                   *_PIN_CALLS],
     ["--json", "--rates", "50,100", "--step", "4", "--no-overload", *_PIN_CALLS]),
]
#: benches that run here only when asked by name (they need more than loopback sockets)
NOT_BY_DEFAULT = {"run_all"}


# ---------------------------------------------------------------- machine and versions


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": memory,
            "kernel": platform.release(), "os": platform.platform(terse=True),
            "load_average_at_start": " ".join(f"{x:.1f}" for x in os.getloadavg())}


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("uvicorn", "websockets", "fastapi", "pydantic", "uvloop"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "missing"
    try:
        found["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True,
                                       check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        found["node"] = "missing"
    sys.path.insert(0, str(BENCH))
    from relay_peerjs import PEER_VERSION
    found["peer (PeerJS server)"] = PEER_VERSION
    return found


# ---------------------------------------------------------------- running


def offers_json(script: Path) -> bool:
    try:
        result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                                text=True, timeout=60, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return False
    return "--json" in result.stdout


def plan(only: set[str] | None, quick: bool) -> list[tuple[str, list[str]]]:
    chosen = [(name, quick_args if quick else args) for name, args, quick_args in PLAN]
    known = {name for name, _, _ in PLAN}
    for script in sorted(BENCH.glob("*.py")):
        name = script.stem
        if name in known or name in NOT_BY_DEFAULT:
            continue
        if (only is None or name in only) and offers_json(script):
            chosen.append((name, ["--json"]))
    if only is not None:
        chosen = [(name, args) for name, args in chosen if name in only]
    return chosen


def run_bench(name: str, args: list[str], timeout: float) -> tuple[dict[str, Any] | None, str]:
    """(the bench's JSON, "") or (None, why it was skipped)."""
    script = BENCH / f"{name}.py"
    if not script.exists():
        return None, f"bench/{name}.py is not in this tree"
    started = time.monotonic()
    print(f"== {name} {' '.join(args)}", file=sys.stderr, flush=True)
    try:
        result = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                                text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"exit code {result.returncode}: {tail[0][:200]}"
    text = result.stdout.strip()
    start = text.find("{")
    try:
        report: dict[str, Any] = json.loads(text[start:]) if start >= 0 else {}
    except json.JSONDecodeError as exc:
        return None, f"output is not one JSON document ({exc})"
    report.setdefault("_seconds", round(time.monotonic() - started))
    return report, ""


# ---------------------------------------------------------------- tables


def flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        elif not isinstance(value, list):
            out[f"{prefix}{key}"] = value
    return out


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "—" if value is None else str(value).replace("|", "/")


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    rows = [flat(row) for row in rows]
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def generic_tables(report: dict[str, Any]) -> str:
    parts = []
    scalars = {k: v for k, v in flat(report).items()
               if not k.startswith("_") and not k.startswith("machine")}
    for key in ("results", "steps", "samples", "runs"):
        rows = report.get(key)
        if isinstance(rows, list) and rows and isinstance(rows[0], dict):
            parts.append(table(rows))
            scalars = {k: v for k, v in scalars.items() if not k.startswith(f"{key}.")}
    if scalars:
        parts.append(table([{"figure": k, "value": v} for k, v in scalars.items()]))
    return "\n\n".join(parts)


# ---------------------------------------------------------------- plots


def plot_relay(report: dict[str, Any], path: Path) -> bool:
    import matplotlib.pyplot as plt

    rows = report["results"]
    rates = sorted({row["rate"] for row in rows})
    servers = ["ours", "peerjs"]

    def rounds(server: str, rate: int, key: str) -> list[float]:
        return [r[key] for r in rows if r["server"] == server and r["rate"] == rate and key in r]

    # The median of the rounds as the bar and every round as a dot: on a shared machine
    # one round of either server can be far off, and a "best round" favours whoever had
    # the quieter one.
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    width = 0.38
    for axis, key, title in zip(axes, ("p50_ms", "p99_ms", "cpu_us_per_message"),
                                ("relay p50 (ms)", "relay p99 (ms)", "server CPU µs/message"),
                                strict=True):
        for offset, server in enumerate(servers):
            positions = [i + offset * width for i in range(len(rates))]
            values = [rounds(server, rate, key) for rate in rates]
            axis.bar(positions, [statistics.median(v) if v else 0.0 for v in values],
                            width, label="cloud-agent" if server == "ours" else "PeerJS 1.0.2")
            for position, each in zip(positions, values, strict=True):
                axis.plot([position] * len(each), each, "o", color="black", markersize=3,
                          alpha=0.6)
        axis.set_xticks([i + width / 2 for i in range(len(rates))],
                        [f"{rate:,} msg/s" for rate in rates])
        axis.set_title(title + " (median; dots: rounds)", fontsize=10)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def plot_memory(report: dict[str, Any], path: Path) -> bool:
    import matplotlib.pyplot as plt

    rows = report["results"]
    figure, axis = plt.subplots(figsize=(6, 3.2))
    axis.barh([row["server"] for row in rows], [row["kib_per_socket"] for row in rows])
    axis.axvline(40, color="grey", linestyle="--", label="target 40 KiB")
    axis.set_xlabel(f"KiB per idle socket at {rows[0]['sockets']:,} sockets")
    axis.invert_yaxis()
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def plot_engine(report: dict[str, Any], path: Path) -> bool:
    import matplotlib.pyplot as plt

    rows = [flat(row) for row in report.get("results", [])]
    key = next((k for k in (rows[0] if rows else {}) if k.endswith("events_per_second")),
               None)
    if not rows or key is None or "agents" not in rows[0]:
        return False
    figure, axis = plt.subplots(figsize=(6, 3.2))
    axis.plot([r["agents"] for r in rows], [r[key] for r in rows], marker="o")
    axis.axhline(10_000, color="grey", linestyle="--", label="target 10,000/s")
    axis.set_xscale("log")
    axis.set_xlabel("agents")
    axis.set_ylabel("engine events/s")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def plot_call_rate(report: dict[str, Any], path: Path) -> bool:
    import matplotlib.pyplot as plt

    steps = report.get("steps") or []
    if not steps or "rate" not in steps[0]:
        return False
    figure, axis = plt.subplots(figsize=(6, 3.2))
    axis.plot([s["rate"] for s in steps],
              [100 * (s.get("rung_within_2s_share") or 0) for s in steps], marker="o")
    axis.axhline(99.9, color="grey", linestyle="--", label="99.9 %")
    axis.set_xlabel("calls/s")
    axis.set_ylabel("% rung within 2 s")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


PLOTS: dict[str, Callable[[dict[str, Any], Path], bool]] = {
    "relay_peerjs": plot_relay, "memory_per_socket": plot_memory,
    "engine_throughput": plot_engine, "call_rate": plot_call_rate,
}


# ---------------------------------------------------------------- the document


def section(name: str, report: dict[str, Any], draw: bool = True) -> str:
    when = (f"kept from an earlier run, {report['_from_earlier_run']}"
            if "_from_earlier_run" in report else "this run")
    lines = [f"### `bench/{name}.py` ({when}, {report.get('_seconds', '?')} s)", ""]
    plot = PLOTS.get(name) if draw else None
    if plot is not None:
        IMAGES.mkdir(parents=True, exist_ok=True)
        image = IMAGES / f"bench-{name}.png"
        try:
            drawn = plot(report, image)
        except Exception as exc:  # a plot must not cost the table
            drawn = False
            lines += [f"(plot not drawn: {type(exc).__name__}: {exc})", ""]
        if drawn:
            lines += [f"![{name}](images/{image.name})", ""]
    lines.append(generic_tables(report))
    return "\n".join(lines)


def render(reports: dict[str, dict[str, Any]], skipped: dict[str, str],
           command: str, draw: bool = True) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [START, "", f"Written by `{command}` on {now}.", "",
             table([machine()]), "", table([versions()]), ""]
    for name, report in reports.items():
        parts += [section(name, report, draw), ""]
    if skipped:
        parts += ["Skipped:", ""]
        parts += [f"- `bench/{name}.py`: {why}" for name, why in skipped.items()]
        parts.append("")
    parts.append(END)
    return "\n".join(parts)


def write_doc(block: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n## All benchmarks, one command — `bench/run_all.py`\n\n"
        text += block + "\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated bench names (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="short runs of the known benches (a smoke test, not figures: "
                        "printed, not written into the page)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds a bench may take before it is skipped [1800]")
    parser.add_argument("--from-results", action="store_true",
                        help="run nothing: write the block from bench/results/*.json")
    parser.add_argument("--no-doc", action="store_true",
                        help="print the block instead of writing docs/benchmarks.md")
    args = parser.parse_args()
    if args.quick:  # a smoke run's figures never replace the page's
        args.no_doc = True
    only = set(args.only.split(",")) if args.only else None
    reports: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    # A --quick smoke run keeps its figures apart: they must not stand in for a full
    # run's in a later --from-results.
    results = RESULTS / "quick" if args.quick else RESULTS
    results.mkdir(parents=True, exist_ok=True)
    planned = [] if args.from_results else plan(only, args.quick)
    for name in sorted(set() if args.from_results else (only or set())
                       - {name for name, _ in planned}):
        skipped[name] = ("not in this tree" if not (BENCH / f"{name}.py").exists()
                         else "it offers no --json")
    for name, bench_args in planned:
        report, why = run_bench(name, bench_args, args.timeout)
        if report is None:
            skipped[name] = why
            print(f"   skipped: {why}", file=sys.stderr, flush=True)
            continue
        reports[name] = report
        (results / f"{name}.json").write_text(json.dumps(report, indent=2,
                                                         ensure_ascii=False) + "\n")
    # Benches not run this time keep their last figures (marked with their date).
    for saved in sorted(results.glob("*.json")):
        if saved.stem not in reports and saved.stem not in skipped:
            report = json.loads(saved.read_text())
            report["_from_earlier_run"] = datetime.fromtimestamp(
                saved.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
            reports[saved.stem] = report
    command = "python bench/run_all.py" + "".join(
        f" {a}" for a in sys.argv[1:] if a != "--no-doc")
    # --no-doc prints the block and leaves the committed plots alone
    block = render(reports, skipped, command, draw=not args.no_doc)
    if args.no_doc:
        print(block)
    else:
        write_doc(block)
        print(f"wrote {DOC.relative_to(ROOT)} ({len(reports)} benches, {len(skipped)} "
              f"skipped)", file=sys.stderr)


if __name__ == "__main__":
    main()
