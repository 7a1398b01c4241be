"""Train/validation/test splits as lists of ids."""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .errors import DatasetError

__all__ = ["SPLIT_NAMES", "check_split", "load_split", "random_split"]

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")


def load_split(path: str | os.PathLike) -> dict[str, list[str]]:
    """Read a ``split.json``: ``{"train": [...], "val": [...], "test": [...]}`` of ids.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file. Any split names are accepted; ids are converted to ``str``.

    Returns
    -------
    dict[str, list[str]]
        Split name to ids, in file order.

    Raises
    ------
    DatasetError
        The file is unreadable, not a JSON object of lists, or an id is repeated within or
        across splits.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig") as handle:
            content = json.load(handle)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: cannot read the split ({type(error).__name__}: {error})") from error
    if not isinstance(content, dict) or not all(isinstance(ids, list) for ids in content.values()):
        raise DatasetError(f"{path}: a split must be a JSON object of id lists, e.g. {{'train': [...]}}")
    return check_split(content, label=str(path))


def check_split(split: Mapping[str, Iterable[object]], label: str = "split") -> dict[str, list[str]]:
    """Validate a split mapping and return it with ``str`` ids.

    Raises
    ------
    DatasetError
        An id is not a string or an integer (e.g. ``3961.0``, ``null``, a list), or appears
        twice (in one split or in two).
    """
    for name, ids in split.items():
        for item in ids:
            if isinstance(item, bool) or not isinstance(item, (str, numbers.Integral)):
                raise DatasetError(
                    f"{label}: id {item!r} in {str(name)!r} is a {type(item).__name__}; ids are strings "
                    "(or integers)"
                )
    result = {str(name): [str(i) for i in ids] for name, ids in split.items()}
    owner: dict[str, str] = {}
    for name, ids in result.items():
        for item in ids:
            if item in owner:
                where = f"twice in {name!r}" if owner[item] == name else f"in {owner[item]!r} and {name!r}"
                raise DatasetError(f"{label}: id {item!r} appears {where}")
            owner[item] = name
    return result


def random_split(
    ids: Sequence[str],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    names: Sequence[str] = SPLIT_NAMES,
) -> dict[str, list[str]]:
    """A random partition of ``ids`` with the given fractions.

    Parameters
    ----------
    ids : sequence of str
        The ids to split, unique.
    fractions : sequence of float
        Non-negative fractions, one per name, summing to 1 (default 0.8/0.1/0.1).
    seed : int
        Seed of ``numpy.random.default_rng``; the split depends only on ``ids`` (in order),
        ``fractions`` and ``seed``.
    names : sequence of str
        Split names (default ``("train", "val", "test")``).

    Returns
    -------
    dict[str, list[str]]
        Name to ids. Sizes are ``floor(fraction * n)``, the remaining ids going to the
        splits with the largest remainders (ties: earlier names first), so they add up to
        ``len(ids)``.

    Raises
    ------
    DatasetError
        Bad fractions, or repeated ids.
    """
    ids = [str(i) for i in ids]
    fractions = [float(f) for f in fractions]
    if len(fractions) != len(names):
        raise DatasetError(f"random_split: {len(fractions)} fractions for {len(names)} names {tuple(names)}")
    if any(not f >= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise DatasetError(f"random_split: fractions must be non-negative and sum to 1, got {fractions}")
    if len(set(ids)) != len(ids):
        raise DatasetError("random_split: ids are not unique")
    n = len(ids)
    exact = np.array(fractions) * n
    sizes = np.floor(exact).astype(int)
    order = sorted(range(len(names)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in order[: n - int(sizes.sum())]:
        sizes[i] += 1
    permutation = np.random.default_rng(seed).permutation(n)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return {name: [ids[j] for j in permutation[bounds[k] : bounds[k + 1]]] for k, name in enumerate(names)}
