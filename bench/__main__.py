"""`python -m bench`: every benchmark on SQLite and PostgreSQL, then one table.

python -m bench                       # the issue's sizes, both databases
python -m bench --profile smoke       # tiny data, a few seconds a benchmark
python -m bench --only 1,3 --backends sqlite --markdown /tmp/table.md
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from bench.benchmarks import BENCHMARKS, FULL, SMOKE, Row, Run
from bench.harness import Databases


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return (
        f"{os.cpu_count()} cores ({cpu}), {int(memory) / 1024 / 1024:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def table(rows: Sequence[Row]) -> str:
    lines = ["| # | what | db | measured | target | met |", "|---|---|---|---|---|---|"]
    for r in rows:
        met = "—" if r.ok is None else "yes" if r.ok else "**no**"
        lines.append(f"| {r.bench} | {r.what} | {r.backend} | {r.measured} | {r.target} | {met} |")
    return "\n".join(lines)


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> list[Row]:
    folder = workdir / backend
    folder.mkdir(parents=True, exist_ok=True)
    run = Run(args.profile, Databases(backend, folder), folder, seed=args.seed, reuse=args.reuse)
    try:
        for key, benchmark in BENCHMARKS.items():
            if args.only and key not in args.only:
                continue
            started = time.monotonic()
            load = os.getloadavg()[0]
            print(f"[{backend}] benchmark {key} (load {load:.1f}) …", file=sys.stderr, flush=True)
            run.notes.setdefault("load", []).append(f"{key}: {load:.1f}")
            try:
                benchmark(run)
            except Exception as exc:  # one broken benchmark still leaves the others' figures
                traceback.print_exc()
                run.row(key, benchmark.__name__, f"failed: {exc!s:.200}", "", False)
            print(
                f"[{backend}] benchmark {key} done in {time.monotonic() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        if not args.keep:
            run.databases.drop_all()
    run.row(
        "load",
        "1-minute load average as each benchmark started",
        ", ".join(run.notes["load"]),
        "",
        None,
    )
    return run.rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Kakehashi benchmarks")
    parser.add_argument("--profile", choices=("full", "smoke"), default="full")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--only", default="", help="benchmark numbers, e.g. 1,4 (1 includes 2, 8)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, help="keep databases and logs here")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the data set a --keep run left (same seed)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    args.profile = FULL if args.profile == "full" else SMOKE
    args.only = {k for k in args.only.split(",") if k}
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kakehashi-bench-"))
    rows: list[Row] = []
    try:
        for backend in args.backends.split(","):
            rows += run_backend(backend, args, workdir)
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = f"Machine: {machine()}\nProfile: {args.profile.name}\n\n{table(rows)}\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
