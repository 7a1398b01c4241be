"""The ``spacegroup-nn`` command.

``demo``      the main job on built-in data (for now: the bases of all 230 groups)
``basis``     orbits, extinctions and reflection conditions of one group
``symmetry``  the detected group, setting and standardized cell of a structure file
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

from .errors import SpacegroupNNError
from .groups import SpaceGroup, standardize
from .solvers import fourier_basis, reflection_conditions

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    bases = [fourier_basis(number, args.radius) for number in range(1, 231)]
    elapsed = time.perf_counter() - start
    print(f"Symmetry-adapted Fourier bases of all 230 space groups at radius {args.radius:g}")
    print(f"{'#':>4} {'symbol':<11}{'hall':>5}{'order':>6}  {'family':<13}{'K':>6}{'orbits':>8}"
          f"{'extinct':>9}{'functions':>11}")  # fmt: skip
    for basis in bases:
        group = basis.group
        print(
            f"{group.number:>4} {group.symbol:<11}{group.hall_number:>5}{group.order:>6}  "
            f"{group.crystal_family:<13}{len(basis.wavevectors):>6}{basis.num_orbits:>8}"
            f"{int(basis.extinct.sum()):>9}{basis.num_functions:>11}"
        )
    total = sum(basis.nbytes() for basis in bases)
    print(f"built in {elapsed:.3f} s (cold, including spglib's database); {total / 1e6:.2f} MB held")


def _basis(args: argparse.Namespace) -> None:
    group = SpaceGroup.from_hall(args.hall) if args.hall else SpaceGroup(args.group)
    basis = fourier_basis(group, args.radius)
    print(f"{group}\n{basis}")
    print(f"metric: {basis.metric}; centring: {group.centring}; point group: {group.point_group_symbol}")
    print("\nreflection conditions (general positions):")
    conditions = reflection_conditions(basis)
    print("\n".join(f"  {condition}" for condition in conditions) or "  none")
    shown = basis.orbit_representatives[: args.max_orbits]
    print(f"\norbits (first {len(shown)} of {basis.num_orbits}, by |k|):")
    print(f"  {'representative':<16}{'size':>5}{'stabilizer':>11}  status")
    for orbit, k in enumerate(shown):
        status = "extinct" if basis.extinct[k] else "live"
        stabilizer = group.order // basis.orbit_sizes[orbit]
        print(f"  {_miller(basis.wavevectors[k]):<16}{basis.orbit_sizes[orbit]:>5}{stabilizer:>11}  {status}")
    extinct = basis.wavevectors[basis.extinct]
    print(f"\nextinct wave vectors: {len(extinct)} of {len(basis.wavevectors)}")
    if len(extinct):
        listed = " ".join(_miller(k) for k in extinct[: args.max_extinct])
        more = f" ... (+{len(extinct) - args.max_extinct})" if len(extinct) > args.max_extinct else ""
        print(f"  {listed}{more}")


def _symmetry(args: argparse.Namespace) -> None:
    crystal = standardize(args.file, symprec=args.symprec)
    group = crystal.group
    print(f"file: {args.file}")
    print(f"space group: {group.symbol} (No. {group.number}), {group.crystal_system}")
    print(f"setting: Hall {group.hall_number} ({group.hall_symbol}), canonical; symprec {args.symprec:g}")
    lengths = np.linalg.norm(crystal.lattice, axis=1)
    a, b, c = crystal.lattice
    angles = [_angle(b, c), _angle(a, c), _angle(a, b)]
    print("standardized cell (lattice vectors as rows, Angstrom):")
    for row in crystal.lattice:
        print("  " + " ".join(f"{value:12.6f}" for value in row))
    print("  a, b, c = " + ", ".join(f"{v:.5f}" for v in lengths))
    print("  alpha, beta, gamma = " + ", ".join(f"{v:.4f}" for v in angles))
    print(f"atoms ({len(crystal.numbers)}; fractional coordinates):")
    for number, position in zip(crystal.numbers, crystal.frac_coords, strict=True):
        print(f"  {number:>4} " + " ".join(f"{v:10.6f}" for v in position))


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))))


def _miller(k: np.ndarray) -> str:
    return "(" + " ".join(str(int(v)) for v in k) + ")"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``spacegroup-nn``."""
    parser = argparse.ArgumentParser(prog="spacegroup-nn", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the main job on built-in data")
    demo.add_argument("--radius", type=float, default=5.0, help="wave-vector cutoff (default 5)")
    demo.set_defaults(run=_demo)

    basis = commands.add_parser("basis", help="orbits, extinctions and reflection conditions")
    which = basis.add_mutually_exclusive_group(required=True)
    which.add_argument("--group", type=int, help="space-group number 1..230 (canonical setting)")
    which.add_argument("--hall", type=int, help="spglib Hall number 1..530 (any setting)")
    basis.add_argument("--radius", type=float, default=5.0, help="wave-vector cutoff (default 5)")
    basis.add_argument("--max-orbits", type=int, default=40, help="orbits to list (default 40)")
    basis.add_argument("--max-extinct", type=int, default=60, help="extinct k to list (default 60)")
    basis.set_defaults(run=_basis)

    symmetry = commands.add_parser("symmetry", help="detect and standardize a CIF/POSCAR file")
    symmetry.add_argument("file", help="CIF or POSCAR file")
    symmetry.add_argument("--symprec", type=float, default=1e-5, help="tolerance in Angstrom (default 1e-5)")
    symmetry.set_defaults(run=_symmetry)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (1 with a one-line message on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (SpacegroupNNError, ValueError) as error:
        print(f"spacegroup-nn {args.command}: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
