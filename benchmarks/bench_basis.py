"""Benchmark the symmetry-adapted Fourier bases: build time, memory, evaluation throughput.

Run:  python benchmarks/bench_basis.py [--repeats 5] [--out benchmarks/results/bench_basis.json]

Every timing runs in a fresh Python process pinned to one thread, so "cold" means cold:
spglib's database is read and every basis is built from scratch. Requirements (issue 2):
all 230 groups at radius 5 in <= 0.25 s, at radius 10 in <= 3 s, <= 10 MB held at radius 5.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
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
print(json.dumps({{"seconds": elapsed, "bytes": held, "K": sorted({{len(b.wavevectors) for b in bases}})}}))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per timing")
    parser.add_argument("--points", type=int, default=20000, help="points for throughput")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_basis.json")
    args = parser.parse_args()

    results: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                     "python": platform.python_version()}  # fmt: skip
    for radius, limit in ((5.0, 0.25), (10.0, 3.0)):
        runs = [run_fresh(COLD_BUILD.format(radius=radius)) for _ in range(args.repeats)]
        seconds = [run["seconds"] for run in runs]
        results[f"cold_build_radius_{radius:g}"] = {
            "median_s": statistics.median(seconds),
            "min_s": min(seconds),
            "limit_s": limit,
            "held_MB": runs[0]["bytes"] / 1e6,
            "wavevectors": runs[0]["K"],
        }
    k = 514
    results["dense_formulation_MB_radius_5"] = 230 * k * k * 16 / 1e6  # complex128 K x K per group
    for number in (1, 227):
        results[f"throughput_group_{number}"] = run_fresh(
            THROUGHPUT.format(number=number, points=args.points)
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))


def render(results: dict) -> str:
    """Markdown table of ``results``."""
    lines = ["| measurement | value | requirement |", "|---|---|---|"]
    for radius in ("5", "10"):
        entry = results[f"cold_build_radius_{radius}"]
        lines.append(
            f"| cold build, all 230 groups, radius {radius} (K = {entry['wavevectors']}) | "
            f"{entry['median_s']:.3f} s median (min {entry['min_s']:.3f} s) | <= {entry['limit_s']} s |"
        )
    lines.append(
        f"| memory held, all 230 bases, radius 5 | {results['cold_build_radius_5']['held_MB']:.2f} MB "
        f"| <= 10 MB (dense complex K x K per group: {results['dense_formulation_MB_radius_5']:.0f} MB) |"
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
