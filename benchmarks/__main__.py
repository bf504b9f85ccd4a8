"""Run the benchmarks and assemble benchmarks/RESULTS.md."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    os.environ.setdefault("MPLBACKEND", "Agg")
    names = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(HERE)])
        if m.name.startswith("bench_")
    )
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(names)})")
    parser.add_argument(
        "--no-assemble",
        action="store_true",
        help="write only results/<name>.md, leave RESULTS.md as it is (for runs in parallel)",
    )
    parser.add_argument(
        "--assemble-only",
        action="store_true",
        help="run nothing: rebuild RESULTS.md from the results/<name>.md already written",
    )
    args = parser.parse_args(argv)
    chosen = [] if args.assemble_only else (args.names or names)
    RESULTS.mkdir(exist_ok=True)
    for name in chosen:
        if name not in names:
            print(
                f"error: benchmark {name!r} is unknown; expected one of {', '.join(names)}", file=sys.stderr
            )
            return 2
        t0 = time.perf_counter()
        print(f"== bench {name}", file=sys.stderr, flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        section = module.run()
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        footer = (
            f"\n_Made by `python -m benchmarks {name}` (part of `make bench`) on {stamp}, "
            f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"in {time.perf_counter() - t0:.0f}s._\n"
        )
        (RESULTS / f"{name}.md").write_text(section.rstrip() + "\n" + footer)
    if args.no_assemble:
        return 0
    parts = [
        "# Benchmark results\n",
        "Produced by `make bench` (= `python -m benchmarks`); each section names its command.\n",
    ]
    for f in sorted(RESULTS.glob("*.md")):
        parts.append(f.read_text())
    (HERE / "RESULTS.md").write_text("\n".join(parts))
    print(f"wrote {HERE / 'RESULTS.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
