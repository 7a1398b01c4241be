"""Sharded processing: time, peak memory and disk per crystal, and the path to one million crystals.

Run:  nice -n 5 python benchmarks/bench_sharding.py [--out benchmarks/results/bench_sharding.json]
      python benchmarks/bench_sharding.py --smoke   (tiny, a few seconds plus imports)

Input: a CSV written row by row (never held whole) by replicating the perov_5 and carbon_24
rows of ``../shared/datasets`` alternately (5 and 6-24 atoms per cell), each with a fresh
id and its cell lengths scaled by a random factor in [0.99, 1.01] (the symmetry is kept).

For every worker count and size N, a fresh Python process builds a
:class:`~spacegroup_nn.datasets.ShardedCrystalDataset` of the first N rows into an empty
cache and reports: wall time of the build, peak resident memory (``ru_maxrss``) of the main
process and of the largest worker process, the resident memory after the imports (the
libraries), the disk size of the shards, and the time of one pass over the dataset through
a ``DataLoader`` with a ``ShardSampler``. A streaming pass of the reader under
``tracemalloc`` measures the only memory that grows with N: the ids kept to report
duplicate ids. Time and memory are then fitted as ``a + b N`` (least squares over the
measured points) and extrapolated to 1,000,000 crystals.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA  # the datasets folder, as for the other benchmarks

SOURCES = (("perov_5", "heat_ref"), ("carbon_24", "energy_per_atom"))
TARGET_N = 1_000_000
CELL_LENGTH = re.compile(r"^(_cell_length_[abc]\s+)([0-9.]+)", re.MULTILINE)


# ------------------------------------------------------------------------------------------
# Input


def _source_rows(name: str, target: str) -> Iterator[tuple[str, str, str]]:
    """``(id, cif, target)`` of a dataset's CSV files, in chunks, cycling forever."""
    import pandas as pd

    files = sorted((DEFAULT_DATA / name).glob("*.csv"))
    if not files:
        raise SystemExit(f"no CSV files in {DEFAULT_DATA / name} (set SPACEGROUP_NN_DATA)")
    while True:
        for file in files:
            for frame in pd.read_csv(file, usecols=["material_id", "cif", target], chunksize=500):
                for row in frame.itertuples(index=False):
                    yield str(row.material_id), row.cif, repr(float(getattr(row, target)))


def write_input(path: Path, num_rows: int, seed: int = 0) -> Path:
    """Write ``num_rows`` rows ``material_id,cif,target`` to ``path``, one at a time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    streams = [_source_rows(name, target) for name, target in SOURCES]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["material_id", "cif", "target"])
        for index in range(num_rows):
            source_id, cif, target = next(streams[index % len(streams)])
            scale = 1.0 + rng.uniform(-0.01, 0.01)
            cif = CELL_LENGTH.sub(lambda m, s=scale: f"{m.group(1)}{float(m.group(2)) * s:.8f}", cif)
            writer.writerow([f"r{index:07d}-{source_id}", cif, target])
    return path


# ------------------------------------------------------------------------------------------
# One measurement (runs in a fresh process)


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(csv_path: Path, num_rows: int, workers: int, shard_size: int, root: Path) -> dict:
    """Build, read and reader-pass measurements of the first ``num_rows`` rows."""
    import tracemalloc

    import torch
    from torch_geometric.loader import DataLoader

    from spacegroup_nn.datasets import ShardedCrystalDataset, ShardSampler, read_csv

    torch.set_num_threads(1)
    baseline = _rss_mb()
    shutil.rmtree(root, ignore_errors=True)
    start = time.perf_counter()
    dataset = ShardedCrystalDataset(
        csv_path,
        "target",
        root=root,
        limit=num_rows,
        shard_size=shard_size,
        num_workers=workers,
        progress=False,
        log=False,
    )
    build = time.perf_counter() - start
    peak_main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    disk = sum(p.stat().st_size for p in dataset.shard_dir.iterdir())
    assert dataset.num_good + len(dataset.rejects) == dataset.num_rows == num_rows
    start = time.perf_counter()
    loader = DataLoader(dataset, batch_size=64, sampler=ShardSampler(dataset, seed=0))
    seen = sum(batch.num_graphs for batch in loader)
    read = time.perf_counter() - start
    assert seen == len(dataset)
    tracemalloc.start()
    rows = sum(1 for _ in read_csv(csv_path, limit=num_rows)._iter_rows())
    reader_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rows == num_rows
    return {
        "num_rows": num_rows,
        "workers": workers,
        "shard_size": shard_size,
        "num_shards": dataset.num_shards,
        "num_good": dataset.num_good,
        "num_rejected": len(dataset.rejects),
        "build_s": build,
        "ms_per_crystal": 1e3 * build / num_rows,
        "rss_after_imports_MB": baseline,
        "peak_main_MB": peak_main,
        "peak_worker_MB": peak_worker,
        "disk_bytes": disk,
        "read_pass_s": read,
        "reader_pass_peak_bytes": reader_peak,
    }


# ------------------------------------------------------------------------------------------
# Fits and the report


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``y = a + b x``."""
    import numpy as np

    b, a = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(a), float(b)


def extrapolate(rows: list[dict], target: int = TARGET_N) -> dict:
    """Per worker count: fits of build time, peak memory and disk, evaluated at ``target``."""
    result = {}
    for workers in sorted({r["workers"] for r in rows}):
        points = [r for r in rows if r["workers"] == workers]
        ns = [r["num_rows"] for r in points]
        time_a, time_b = fit_line(ns, [r["build_s"] for r in points])
        main_a, main_b = fit_line(ns, [r["peak_main_MB"] for r in points])
        worker_a, worker_b = fit_line(ns, [r["peak_worker_MB"] for r in points])
        disk_a, disk_b = fit_line(ns, [r["disk_bytes"] for r in points])
        read_a, read_b = fit_line(ns, [r["read_pass_s"] for r in points])
        ids_a, ids_b = fit_line(ns, [r["reader_pass_peak_bytes"] for r in points])
        result[str(workers)] = {
            "points": ns,
            "build_s": {
                "a": time_a,
                "b_per_crystal": time_b,
                "at_target_h": (time_a + time_b * target) / 3600,
            },
            "peak_main_MB": {"a": main_a, "b_per_crystal": main_b, "at_target": main_a + main_b * target},
            "peak_worker_MB": {
                "a": worker_a,
                "b_per_crystal": worker_b,
                "at_target": worker_a + worker_b * target,
            },
            "disk": {"b_per_crystal": disk_b, "at_target_GB": (disk_a + disk_b * target) / 1e9},
            "read_pass": {"b_per_crystal": read_b, "at_target_min": (read_a + read_b * target) / 60},
            "reader_ids": {"b_per_crystal": ids_b, "at_target_MB": (ids_a + ids_b * target) / 2**20},
        }
    return result


def table(rows: list[dict]) -> str:
    lines = [
        "| workers | crystals | shards | build (s) | ms / crystal | peak main (MB) | peak worker (MB) "
        "| after imports (MB) | disk (MB) | read pass (s) | reader pass peak (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {r['num_rows']} | {r['num_shards']} | {r['build_s']:.1f} | "
            f"{r['ms_per_crystal']:.2f} | {r['peak_main_MB']:.0f} | {r['peak_worker_MB']:.0f} | "
            f"{r['rss_after_imports_MB']:.0f} | {r['disk_bytes'] / 1e6:.1f} | {r['read_pass_s']:.1f} | "
            f"{r['reader_pass_peak_bytes'] / 2**20:.1f} |"
        )
    return "\n".join(lines)


def extrapolation_table(fits: dict, target: int = TARGET_N) -> str:
    header = [
        "workers",
        "fitted on N =",
        "time per crystal (ms)",
        f"build, {target:,} crystals",
        "peak main / worker, slope (MB per 1k crystals)",
        f"peak main / worker at {target:,} (MB)",
        "disk",
        "read pass",
        "reader pass peak",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for workers, f in fits.items():
        cells = [
            workers,
            ", ".join(str(n) for n in f["points"]),
            f"{1e3 * f['build_s']['b_per_crystal']:.2f}",
            f"{f['build_s']['at_target_h']:.1f} h",
            f"{1e3 * f['peak_main_MB']['b_per_crystal']:+.2f} / "
            f"{1e3 * f['peak_worker_MB']['b_per_crystal']:+.2f}",
            f"{f['peak_main_MB']['at_target']:.0f} / {f['peak_worker_MB']['at_target']:.0f}",
            f"{f['disk']['at_target_GB']:.2f} GB",
            f"{f['read_pass']['at_target_min']:.0f} min",
            f"{f['reader_ids']['at_target_MB']:.0f} MB",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_sharding.json")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one worker, one process")
    parser.add_argument("--work-dir", type=Path, default=None, help="input and caches (default: a temp dir)")
    parser.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:  # one measurement in this fresh process: print JSON lines
        spec = json.loads(args.child)
        for n in spec["sizes"]:
            row = measure(Path(spec["csv"]), n, spec["workers"], spec["shard_size"], Path(spec["root"]))
            print(json.dumps(row), flush=True)
        return {}
    if args.smoke:
        args.sizes, args.workers, args.shard_size = [20, 40], [1], 10
    started = time.perf_counter()
    load_start = _load_average()
    work = Path(tempfile.mkdtemp(prefix="bench_sharding_")) if args.work_dir is None else args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    try:
        csv_path = write_input(work / "input.csv", max(args.sizes))
        input_bytes = csv_path.stat().st_size
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        rows: list[dict] = []
        # one fresh process per (workers, N), so ru_maxrss is that run's peak; --smoke: one in all
        groups = [(w, [n]) for w in args.workers for n in args.sizes]
        if args.smoke:
            groups = [(args.workers[0], args.sizes)]
        for workers, sizes in groups:
            spec = {"csv": str(csv_path), "sizes": sizes, "workers": workers}
            spec |= {"shard_size": args.shard_size, "root": str(work / "cache")}
            command = [sys.executable, __file__, "--child", json.dumps(spec)]
            output = subprocess.run(command, env=env, capture_output=True, text=True)
            if output.returncode:
                raise RuntimeError(f"{command[:3]} failed:\n{output.stderr[-3000:]}")
            for line in output.stdout.splitlines():
                if line.startswith("{"):
                    rows.append(json.loads(line))
                    print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    fits = extrapolate(rows)
    results = {
        "smoke": args.smoke,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "input_bytes_per_row": input_bytes / max(args.sizes),
        "rows": rows,
        "extrapolation": {"target": TARGET_N, "fits": fits},
        "load_average_start": load_start,
        "load_average_end": _load_average(),
        "total_s": time.perf_counter() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(table(rows))
    print()
    print(extrapolation_table(fits))
    print(
        f"\ninput {results['input_bytes_per_row']:.0f} bytes per row; load average {load_start} -> "
        f"{results['load_average_end']}; total {results['total_s']:.0f} s"
    )
    return results


if __name__ == "__main__":
    main()
