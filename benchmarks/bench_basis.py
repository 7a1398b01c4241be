"""Benchmark the symmetry-adapted Fourier bases: build time, memory, evaluation throughput.

Run:  python benchmarks/bench_basis.py [--repeats 5] [--out benchmarks/results/bench_basis.json]
      python benchmarks/bench_basis.py --smoke --out /tmp/bench_basis.json   (tiny, seconds)

Every timing runs in a fresh Python process pinned to one thread, so "cold" means cold:
spglib's database is read and every basis is built from scratch. Requirements (issue 2):
all 230 groups at radius 5 in <= 0.25 s, at radius 10 in <= 3 s, <= 10 MB held at radius 5.
For comparison, the storage of the reference paper's dense formulation: one complex128 K x K
matrix per group, at each group's own number K of wave vectors (418 for the hexagonal and
trigonal groups at radius 5, 514 for the others).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

COLD_BUILD = """
import json, time
import spacegroup_nn  # imports are not part of the build
start = time.perf_counter()
bases = [spacegroup_nn.fourier_basis(n, {radius}) for n in range(1, 231)]
elapsed = time.perf_counter() - start
balls = {{id(b.wavevectors): b.wavevectors.nbytes for b in bases}}
held = sum(b.nbytes() for b in bases) + sum(balls.values())
sizes = [len(b.wavevectors) for b in bases]
groups = {{str(k): sizes.count(k) for k in sorted(set(sizes))}}
dense = sum(16 * k * k for k in sizes)  # complex128 K x K per group, at its own K
print(json.dumps({{"seconds": elapsed, "bytes": held, "groups_per_K": groups, "dense_bytes": dense}}))
"""

THROUGHPUT = """
import json, time
import numpy as np
import spacegroup_nn
basis = spacegroup_nn.fourier_basis({number})
x = np.random.default_rng(0).random(({points}, 3))
basis.evaluate(x)
times = []
for _ in range(5):
    start = time.perf_counter()
    basis.evaluate(x)
    times.append(time.perf_counter() - start)
best = min(times)
print(json.dumps({{"seconds": best, "functions": basis.num_functions,
                  "rate": {points} * basis.num_functions / best}}))
"""


def run_fresh(code: str) -> dict:
    """Run ``code`` in a fresh single-threaded interpreter and parse its JSON output."""
    env = {**os.environ, **SINGLE_THREAD}
    output = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


#: Radius of every cold build and its time limit (s); ``--smoke`` builds at the first alone.
RADII = ((5.0, 0.25), (10.0, 3.0))
#: Defaults of ``--smoke`` (options given explicitly still apply).
SMOKE = {"repeats": 1, "points": 100}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per timing")
    parser.add_argument("--points", type=int, default=20000, help="points for throughput")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_basis.json")
    parser.add_argument(
        "--smoke", action="store_true", help="radius 5 only, 1 repetition, 100 points (unless given)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    if args.repeats < 1 or args.points < 1:
        parser.error("--repeats and --points must be >= 1")

    arguments = argv if argv is not None else sys.argv[1:]
    results: dict = {
        "command": " ".join(["python benchmarks/bench_basis.py", *arguments]),
        "smoke": args.smoke,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],  # the machine is shared
    }
    for radius, limit in RADII[:1] if args.smoke else RADII:
        runs = [run_fresh(COLD_BUILD.format(radius=radius)) for _ in range(args.repeats)]
        seconds = [run["seconds"] for run in runs]
        results[f"cold_build_radius_{radius:g}"] = {
            "median_s": statistics.median(seconds),
            "min_s": min(seconds),
            "limit_s": limit,
            "held_MB": runs[0]["bytes"] / 1e6,
            "wavevectors": [int(k) for k in runs[0]["groups_per_K"]],
            "groups_per_K": runs[0]["groups_per_K"],
            "dense_MB": runs[0]["dense_bytes"] / 1e6,
        }
    for number in (1, 227):
        results[f"throughput_group_{number}"] = run_fresh(
            THROUGHPUT.format(number=number, points=args.points)
        )

    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    return results


def render(results: dict) -> str:
    """Markdown table of ``results``."""
    lines = ["| measurement | value | requirement |", "|---|---|---|"]
    for radius in (f"{radius:g}" for radius, _ in RADII if f"cold_build_radius_{radius:g}" in results):
        entry = results[f"cold_build_radius_{radius}"]
        lines.append(
            f"| cold build, all 230 groups, radius {radius} (K = {entry['wavevectors']}) | "
            f"{entry['median_s']:.3f} s median (min {entry['min_s']:.3f} s) | <= {entry['limit_s']} s |"
        )
    entry = results["cold_build_radius_5"]
    lines.append(
        f"| memory held, all 230 bases, radius 5 | {entry['held_MB']:.2f} MB "
        f"| <= 10 MB (dense complex K x K per group: {entry['dense_MB']:.0f} MB) |"
    )
    for number, name in ((1, "P1"), (227, "Fd-3m")):
        entry = results[f"throughput_group_{number}"]
        lines.append(
            f"| evaluate, {name} ({entry['functions']} functions) | "
            f"{entry['rate'] / 1e6:.1f} M point-functions/s | reported |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
