"""Time and memory per crystal for large cells (about 100, 300 and 1,000 atoms), per family.

Run:  python benchmarks/bench_scale.py [--out benchmarks/results/bench_scale.json] [--smoke]

For each crystal family (triclinic to cubic, with the rhombohedral lattice of the trigonal
family) a random crystal of a representative group is built with about the requested
number of atoms (several general-position orbits), standardized, and pushed through the
default SpaceGroupTransformer: forward time, forward + backward time, and the peak resident
memory of a fresh process (``ru_maxrss``), one thread. The JSON records the exact command,
the load average before and after (the machine may be shared) and the total time.
``--smoke`` measures one small cell per family, all in one process (a check that the script
runs, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: family -> a representative group (orders 2 to 36); trigonal: R-3m, a rhombohedral lattice
#: in hexagonal axes (three centring vectors)
FAMILIES = {
    "triclinic": 2,
    "monoclinic": 15,
    "orthorhombic": 62,
    "tetragonal": 88,
    "trigonal (R)": 166,
    "hexagonal": 176,
    "cubic": 205,
}
SIZES = (100, 300, 1000)
SMOKE_SIZES = (40,)


def measure(number: int, atoms: int) -> dict:
    """One row: a random crystal of about ``atoms`` atoms in group ``number``, timed and sized."""
    import resource

    import numpy as np
    import torch

    from spacegroup_nn import SpaceGroup
    from spacegroup_nn.data import from_structure
    from spacegroup_nn.groups import random_crystal
    from spacegroup_nn.nn import SpaceGroupTransformer

    torch.set_num_threads(1)
    group = SpaceGroup(number)
    orbits = max(1, round(atoms / group.order))
    lattice, frac, numbers = random_crystal(group, np.random.default_rng(0), num_orbits=orbits)
    numbers = 1 + (numbers - 1) % 20  # more orbits than elements: reuse the first 20
    crystal = from_structure((lattice, frac, numbers), symprec=1e-3)
    model = SpaceGroupTransformer()
    model(crystal)  # tables, warm-up
    start = time.perf_counter()
    with torch.no_grad():
        model(crystal)
    forward = time.perf_counter() - start
    start = time.perf_counter()
    model(crystal).sum().backward()
    backward = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"atoms": crystal.num_nodes, "forward_s": forward, "train_step_s": backward, "peak_MB": peak}


def run_child(specs: list[tuple[str, int, int]]) -> list[dict]:
    """Measure ``(family, group, atoms)`` specs in one fresh single-threaded process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "--child", json.dumps(specs)]
    output = subprocess.run(command, env=env, capture_output=True, text=True)
    if output.returncode:
        raise RuntimeError(f"{command[:3]} failed:\n{output.stderr[-3000:]}")
    return [json.loads(line) for line in output.stdout.splitlines() if line.startswith("{")]


def table(rows: Sequence[dict]) -> str:
    lines = [
        "| family (group) | atoms | forward (s) | forward + backward (s) | peak memory (MB) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {row['family']} ({row['group']}) | {row['atoms']} | {row['forward_s']:.3f} | "
        f"{row['train_step_s']:.3f} | {row['peak_MB']:.0f} |"
        for row in rows
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_scale.json")
    parser.add_argument("--smoke", action="store_true", help="one small cell per family, in one process")
    parser.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:  # measurements in this fresh process: print JSON lines
        for family, number, atoms in json.loads(args.child):
            print(json.dumps({"family": family, "group": number, **measure(number, atoms)}), flush=True)
        return {}
    words = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "benchmarks/bench_scale.py", *words])
    started, load_start = time.perf_counter(), os.getloadavg()
    specs = [(family, number, atoms) for family, number in FAMILIES.items() for atoms in SIZES]
    if args.smoke:  # one process for all: its peak memory is cumulative
        specs = [(family, number, atoms) for family, number in FAMILIES.items() for atoms in SMOKE_SIZES]
        rows = run_child(specs)
    else:  # a fresh process per row, so that ru_maxrss is that row's peak
        rows = [row for spec in specs for row in run_child([spec])]
    results = {
        "command": command,
        "smoke": args.smoke,
        "machine": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "threads": 1,
        "rows": rows,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "total_s": time.perf_counter() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(rows))
    load = (
        "/".join(f"{x:.2f}" for x in load_start)
        + " -> "
        + "/".join(f"{x:.2f}" for x in results["load_average_end"])
    )
    print(f"\n`{command}`: load average (1/5/15 min) {load}; total {results['total_s']:.0f} s")
    return results


if __name__ == "__main__":
    main()
