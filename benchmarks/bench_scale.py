"""Time and memory per crystal for large cells (about 100, 300 and 1,000 atoms), per family.

Run:  python benchmarks/bench_scale.py [--out benchmarks/results/bench_scale.json]

For each crystal family a random crystal of a representative group is built with about the
requested number of atoms (several general-position orbits), standardized, and pushed
through the default SpaceGroupTransformer: forward time, forward + backward time, and the
peak resident memory of a fresh process (``ru_maxrss``), one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

#: family -> a representative group (orders 8 to 24)
FAMILIES = {"monoclinic": 15, "orthorhombic": 62, "tetragonal": 88, "hexagonal": 176, "cubic": 205}
SIZES = (100, 300, 1000)

MEASURE = """
import json, resource, time
import numpy as np, torch
from spacegroup_nn import SpaceGroup
from spacegroup_nn.data import from_structure
from spacegroup_nn.groups import random_crystal
from spacegroup_nn.nn import SpaceGroupTransformer
torch.set_num_threads(1)
group = SpaceGroup({number})
orbits = max(1, round({atoms} / group.order))
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
row = {{"atoms": crystal.num_nodes, "forward_s": forward, "train_step_s": backward, "peak_MB": peak}}
print(json.dumps(row))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_scale.json")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    for family, number in FAMILIES.items():
        for atoms in SIZES:
            code = MEASURE.format(number=number, atoms=atoms)
            output = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            rows.append(
                {"family": family, "group": number, **json.loads(output.stdout.strip().splitlines()[-1])}
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.machine(), "rows": rows}, indent=2) + "\n")
    print("| family (group) | atoms | forward (s) | forward + backward (s) | peak memory (MB) |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['family']} ({row['group']}) | {row['atoms']} | {row['forward_s']:.3f} | "
            f"{row['train_step_s']:.3f} | {row['peak_MB']:.0f} |"
        )


if __name__ == "__main__":
    main()
