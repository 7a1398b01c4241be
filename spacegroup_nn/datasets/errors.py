"""Errors of the dataset readers and datasets."""

from __future__ import annotations

from ..errors import SpacegroupNNError

__all__ = ["DatasetError"]


class DatasetError(SpacegroupNNError, ValueError):
    """A dataset source, layout, split or configuration cannot be used as given.

    Problems with single rows (a garbled CIF, a missing target) are not errors: the row is
    rejected and reported. This error is for problems with the whole source, such as an
    unknown folder layout or a CSV without a ``cif`` column; the message names the path.
    """
