"""``SyntheticCrystals``: random ionic crystals of every space group, labelled by Ewald energy."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data
from tqdm.auto import tqdm

from ..data import from_standard_crystal
from ..errors import StructureError
from ..groups import SpaceGroup, StandardCrystal, random_crystal, standardize
from ..groups._spglib import SpglibError, primitive_cell
from ._base import CachedCrystalDataset, config_hash
from .errors import DatasetError
from .readers import Reject

__all__ = ["ANIONS", "CATIONS", "SYNTHETIC_TARGET", "SyntheticCrystals"]

SYNTHETIC_TARGET = "ewald_energy_per_atom"

#: Cations by formal charge +q and anions by charge -q; one pair (+q, -q) per two orbits.
CATIONS: dict[int, tuple[str, ...]] = {
    1: ("Li", "Na", "K", "Rb", "Cs"),
    2: ("Mg", "Ca", "Sr", "Ba", "Zn"),
    3: ("Al", "Ga", "Sc", "Y", "La"),
}
ANIONS: dict[int, tuple[str, ...]] = {1: ("F", "Cl", "Br", "I"), 2: ("O", "S", "Se", "Te"), 3: ("N", "P")}

#: ``acc_factor`` of pymatgen's EwaldSummation: significant figures of each sum (pymatgen's
#: default is 12; labels are stored in float32, which holds about 7).
EWALD_ACCURACY = 8.0

# Redraws of a crystal whose standardization fails (it never happened in the default set).
_MAX_ATTEMPTS = 20


class SyntheticCrystals(CachedCrystalDataset):
    r"""Random charge-neutral ionic crystals of every requested space group.

    For each group ``n`` and each ``i < num_per_group`` a crystal is drawn with
    :func:`spacegroup_nn.groups.random_crystal` (``num_orbits`` orbits in general position of
    ``SpaceGroup(n)``, lattice scaled so that the shortest interatomic distance is
    ``min_distance``). Orbits come in pairs of equal multiplicity ``|G|``: a cation of formal
    charge ``+q`` and an anion of charge ``-q`` (``q`` in 1..3, elements drawn from
    :data:`CATIONS` / :data:`ANIONS`), so every cell is neutral. The label is pymatgen's
    :class:`~pymatgen.analysis.ewald.EwaldSummation` total energy per atom (eV/atom) of the
    structure decorated with those oxidation states
    (``Structure.add_oxidation_state_by_element``), computed on the primitive cell of the
    stored crystal (the energy per atom does not depend on the cell choice; the conventional
    cells of F-centred cubic groups would cost 4³ times more).

    Cell size: general positions only, so a crystal has ``num_orbits * |G|`` atoms in the
    standardized conventional cell. With the default two orbits that is 2 to 48 atoms for
    the 199 groups of order ≤ 24, 64 to 96 atoms for the 19 groups of order 32 to 48, 192
    atoms for the 8 groups of order 96 and 384 atoms for the 4 groups of order 192 (Fm-3m,
    Fm-3c, Fd-3m, Fd-3c); their primitive cells have at most 96 atoms. We accept these sizes
    rather than capping at 48 atoms: a neutral crystal needs a cation and an anion orbit,
    a general orbit has ``|G|`` atoms, and a cap would drop 31 groups (special positions,
    the other way to fewer atoms, would add symmetry to control). Generating the default
    set (5 per group, 1150 crystals) takes about 20 s of CPU, half of it in the Ewald sums;
    ``num_workers=2`` splits it over two cores.

    Labels: the Ewald energy of random ionic arrangements spans roughly -50 to +200 eV/atom
    (median -2, standard deviation 18 eV/atom for the default set): like charges may sit at
    ``min_distance`` and the energy scales with ``q**2``. Normalize it for training.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Cache folder (default ``$SPACEGROUP_NN_CACHE`` or ``~/.cache/spacegroup_nn``).
    num_per_group : int
        Crystals per group (default 5).
    seed : int
        Seed; group ``n`` uses ``numpy.random.default_rng([seed, n])``, so its crystals do
        not depend on which other groups are requested.
    groups : iterable of int
        Space-group numbers (default all 230).
    num_orbits : int
        Even number of general-position orbits (default 2: one cation and one anion orbit).
    min_distance : float
        Shortest interatomic distance in Å (default 2.0).
    symprec : float
        Tolerance of the detection (default 1e-3 Å; the crystals are exact up to round-off
        and no two atoms are closer than ``min_distance``).
    dtype : torch.dtype
        Dtype of ``pos``, ``frac``, ``cell`` (default float32); ``y`` is float32.
    num_workers : int
        Processes used for generation (0: in this process); the result does not depend on it.
    progress : bool, optional
        tqdm bar over groups; by default only on a terminal.
    transform, pre_transform, log, force_reload
        As in :class:`~spacegroup_nn.datasets.CrystalDataset`.

    Attributes
    ----------
    target : str
        ``"ewald_energy_per_atom"``.
    mismatched : list[tuple[str, int, int]]
        ``(id, requested_group, detected_group)`` of the crystals whose detected group differs
        from the requested one (none with two or more orbits, up to measure-zero accidents).

    Notes
    -----
    Items as in :class:`~spacegroup_nn.datasets.CrystalDataset` (``z``, ``pos``, ``frac``,
    ``cell [1, 3, 3]``, ``space_group [1]`` the DETECTED group, ``y [1]`` float32 in eV/atom,
    ``id`` such as ``"sg225-003"``) plus ``requested_group [1]`` long.
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        num_per_group: int = 5,
        seed: int = 0,
        groups: Iterable[int] = range(1, 231),
        *,
        num_orbits: int = 2,
        min_distance: float = 2.0,
        symprec: float = 1e-3,
        dtype: torch.dtype = torch.float32,
        num_workers: int = 0,
        progress: bool | None = None,
        transform: Callable[[Data], Data] | None = None,
        pre_transform: Callable[[Data], Data] | None = None,
        log: bool = True,
        force_reload: bool = False,
    ) -> None:
        import pymatgen.core
        import spglib

        from .. import __version__

        self.groups = tuple(int(n) for n in groups)
        if not self.groups or any(not 1 <= n <= 230 for n in self.groups):
            raise DatasetError(f"groups must be space-group numbers 1..230, got {self.groups[:10]}...")
        if len(set(self.groups)) != len(self.groups):
            raise DatasetError("groups contains repeated numbers")
        if num_per_group < 1:
            raise DatasetError(f"num_per_group must be at least 1, got {num_per_group}")
        if num_orbits < 2 or num_orbits % 2:
            raise DatasetError(
                f"num_orbits must be even and at least 2 (cation/anion pairs), got {num_orbits}"
            )
        self.num_per_group = int(num_per_group)
        self.seed = int(seed)
        self.num_orbits = int(num_orbits)
        self.min_distance = float(min_distance)
        self.symprec = float(symprec)
        self.dtype = dtype
        self.num_workers = num_workers
        self.progress = progress
        self.target = SYNTHETIC_TARGET
        config = {
            "kind": "SyntheticCrystals",
            "version": __version__,
            "spglib": spglib.__version__,
            "pymatgen": getattr(pymatgen.core, "__version__", "?"),
            "groups": self.groups,
            "num_per_group": self.num_per_group,
            "seed": self.seed,
            "num_orbits": self.num_orbits,
            "min_distance": self.min_distance,
            "symprec": self.symprec,
            "dtype": str(dtype),
            "pre_transform": repr(pre_transform),
        }
        self._cache_name = "synthetic"
        self._cache_key = config_hash(config)
        super().__init__(
            root, transform=transform, pre_transform=pre_transform, log=log, force_reload=force_reload
        )
        if self.mismatched:
            self._log(f"synthetic: {len(self.mismatched)} crystals detected in another group than requested")

    @property
    def mismatched(self) -> list[tuple[str, int, int]]:
        return [(str(i), int(a), int(b)) for i, a, b in self.meta.get("mismatched", [])]

    def build(self) -> tuple[list[Data], list[Reject], int, dict[str, Any]]:
        start = time.perf_counter()
        options = (self.num_per_group, self.seed, self.num_orbits, self.min_distance, self.symprec)
        disable = None if self.progress is None else not self.progress
        bar = {"total": len(self.groups), "desc": "synthetic", "disable": disable}
        if self.num_workers > 0 and len(self.groups) > 1:
            with ProcessPoolExecutor(self.num_workers, mp_context=get_context()) as pool:
                results = list(
                    tqdm(pool.map(_generate_group, self.groups, [options] * len(self.groups)), **bar)
                )
        else:
            results = [_generate_group(n, options) for n in tqdm(self.groups, **bar)]
        data_list: list[Data] = []
        rejects: list[Reject] = []
        mismatched = []
        for number, items in zip(self.groups, results, strict=True):
            for item in items:
                if isinstance(item, Reject):
                    rejects.append(item)
                    continue
                name, crystal, energy = item
                if crystal.group.number != number:
                    mismatched.append((name, number, crystal.group.number))
                data = from_standard_crystal(crystal, dtype=self.dtype)
                data.y = torch.tensor([energy], dtype=torch.float32)
                data.id = name
                data.requested_group = torch.tensor([number], dtype=torch.long)
                if self.pre_transform is not None:
                    data = self.pre_transform(data)
                data_list.append(data)
        extra = {"mismatched": mismatched, "seconds": round(time.perf_counter() - start, 3)}
        return data_list, rejects, len(self.groups) * self.num_per_group, extra


def _generate_group(number: int, options: tuple) -> list[tuple[str, StandardCrystal, float] | Reject]:
    """``(id, crystal, energy)`` of the crystals of one group (also runs in worker processes).

    No torch objects: they would cross process boundaries through shared-memory descriptors.
    """
    num_per_group, seed, num_orbits, min_distance, symprec = options
    group = SpaceGroup(number)
    rng = np.random.default_rng([seed, number])
    items: list[tuple[str, StandardCrystal, float] | Reject] = []
    for index in range(num_per_group):
        name = f"sg{number:03d}-{index:03d}"
        reason = ""
        for _ in range(_MAX_ATTEMPTS):
            lattice, frac_coords, orbit = random_crystal(
                group, rng, num_orbits=num_orbits, min_distance=min_distance
            )
            species, charges = _draw_species(rng, num_orbits)
            try:
                crystal = standardize((lattice, frac_coords, species[orbit - 1]), symprec=symprec, name=name)
            except StructureError as error:
                reason = f"{type(error).__name__}: {error}"
                continue
            items.append((name, crystal, _ewald_energy_per_atom(crystal, charges)))
            break
        else:
            items.append(Reject(name, f"no usable crystal in {_MAX_ATTEMPTS} draws; last: {reason}"))
    return items


def _draw_species(rng: np.random.Generator, num_orbits: int) -> tuple[np.ndarray, dict[str, int]]:
    """Atomic numbers ``(num_orbits,)`` of the orbits, and the oxidation state of each element."""
    from pymatgen.core import Element

    numbers = []
    charges: dict[str, int] = {}
    for _ in range(num_orbits // 2):
        q = int(rng.integers(1, 4))
        cation = CATIONS[q][rng.integers(len(CATIONS[q]))]
        anion = ANIONS[q][rng.integers(len(ANIONS[q]))]
        # The element lists of different charges are disjoint: an element has one state.
        charges[cation], charges[anion] = q, -q
        numbers += [Element(cation).Z, Element(anion).Z]
    return np.array(numbers, dtype=np.int64), charges


def _ewald_energy_per_atom(crystal: StandardCrystal, charges: dict[str, int]) -> float:
    """pymatgen's Ewald energy per atom (eV/atom), computed on the primitive cell of ``crystal``."""
    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.core import Lattice, Structure

    cell = (crystal.lattice, crystal.frac_coords, crystal.numbers)
    try:
        primitive = primitive_cell(cell, crystal.symprec)
    except SpglibError:  # pragma: no cover - spglib found the group of this very cell
        primitive = cell  # only slower: the energy per atom is that of any cell
    structure = Structure(Lattice(primitive[0]), [int(z) for z in primitive[2]], primitive[1])
    structure.add_oxidation_state_by_element(charges)
    # Cation and anion orbits have equal multiplicities: the cell is neutral by construction.
    return float(EwaldSummation(structure, acc_factor=EWALD_ACCURACY).total_energy / len(structure))
