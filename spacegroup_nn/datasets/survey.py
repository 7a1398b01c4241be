"""Space groups detected in a dataset at several tolerances, to choose ``symprec``.

Run ``python -m spacegroup_nn.datasets.survey PATH [--symprec 1e-5 0.01 0.1] [--limit N]``.
Each structure is parsed once and standardized at every tolerance; the table lists the
number of distinct groups, how many crystals stay in P1, failures, how many standardized
lattices are more symmetric than their group needs (extra normalizer cosets,
:func:`~spacegroup_nn.groups.lattice_normalizer_cosets`), and, when the source has a
``spacegroup.crystal_system`` column (mp_elastic, from the Materials Project), the fraction
of crystals whose detected crystal system agrees with it.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import StructureError
from .readers import Record, read_records

__all__ = ["SymmetrySurvey", "main", "symmetry_survey"]

_SYSTEM_COLUMN = "spacegroup.crystal_system"


@dataclass
class SymmetrySurvey:
    """Result of :func:`symmetry_survey` at one tolerance.

    Attributes
    ----------
    symprec : float
        Tolerance in Å.
    groups : collections.Counter
        Detected space-group number -> number of crystals.
    failures : collections.Counter
        Error type name -> number of crystals that could not be standardized.
    system_agreement : float or None
        Fraction of crystals whose crystal system equals the source's
        ``spacegroup.crystal_system`` (``None`` without that column).
    special_lattices : int
        Crystals whose standardized lattice is more symmetric than their group needs.
    """

    symprec: float
    groups: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    system_agreement: float | None = None
    special_lattices: int = 0

    def line(self) -> str:
        """One table row: tolerance, groups, P1 count, failures, special lattices, agreement,
        most common groups."""
        agreement = "" if self.system_agreement is None else f"{100 * self.system_agreement:6.1f}%"
        top = ", ".join(f"{n}:{c}" for n, c in self.groups.most_common(5))
        return (
            f"{self.symprec:8g} {len(self.groups):6d} {self.groups[1]:6d} "
            f"{sum(self.failures.values()):6d} {self.special_lattices:7d} {agreement:>8} {top}"
        )


def symmetry_survey(
    source: str | os.PathLike, symprecs: Sequence[float], *, limit: int | None = None
) -> tuple[list[SymmetrySurvey], int, int]:
    """Standardize every structure of ``source`` at each tolerance.

    Returns
    -------
    surveys : list[SymmetrySurvey]
        One per tolerance, in the given order.
    num_rows : int
        Input rows read.
    num_parsed : int
        Rows whose structure could be parsed (the others are not surveyed).
    """
    from ..groups import SpaceGroup, lattice_normalizer_cosets, standardize

    reader = read_records(source, limit=limit)
    records = [item for item in reader if isinstance(item, Record)]
    surveys = []
    for symprec in symprecs:
        survey = SymmetrySurvey(float(symprec))
        agree = compared = 0
        for record in records:
            try:
                crystal = standardize(record.structure, symprec=symprec, name=record.id)
            except StructureError as error:
                survey.failures[type(error).__name__] += 1
                continue
            number = crystal.group.number
            survey.groups[number] += 1
            survey.special_lattices += len(lattice_normalizer_cosets(crystal.group, crystal.lattice)[0]) > 1
            expected = record.targets.get(_SYSTEM_COLUMN)
            if isinstance(expected, str):
                compared += 1
                agree += SpaceGroup(number).crystal_system == expected.lower()
        survey.system_agreement = agree / compared if compared else None
        surveys.append(survey)
    return surveys, len(reader), len(records)


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; prints one table per source."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="dataset files or folders")
    parser.add_argument("--symprec", type=float, nargs="+", default=[1e-5, 1e-3, 1e-2, 5e-2, 1e-1, 2e-1])
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    for source in args.sources:
        surveys, num_rows, num_parsed = symmetry_survey(source, args.symprec, limit=args.limit)
        print(f"{source}: {num_parsed} of {num_rows} rows parsed")
        header = f"{'symprec':>8} {'groups':>6} {'P1':>6} {'failed':>6} {'special':>7} {'system':>8}"
        print(f"{header} most common (group:count)")
        for survey in surveys:
            print(survey.line())


if __name__ == "__main__":
    main()
