"""ctypes binding of the fused feature kernel, ``spacegroup_nn/csrc/symmetrized_fourier.cpp``.

The kernel is compiled when the package is installed (``setup.py``); where no compiler was
available, or the library was compiled from another version of the package (its
:data:`ABI_VERSION` differs, with a warning), :data:`AVAILABLE` is ``False`` and
:class:`~spacegroup_nn.nn.SymmetrizedFourierFeatures` uses its torch path, which gives the same
values.
"""

from __future__ import annotations

import ctypes
import importlib.util
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["AVAILABLE", "supports", "symmetrized_fourier"]

#: The tables of every wave-vector block and the dtype the kernel reads each of them in.
TABLE_DTYPES = {
    "wavevectors": torch.int32,
    "half": torch.int64,
    "partner": torch.int64,
    "orbit": torch.int32,
    "twelfths": torch.int8,
    "orbit_size": torch.int32,
}
TABLES = tuple(TABLE_DTYPES)
#: The layout of the structs below and of the tables, as the compiled kernel reports it.
ABI_VERSION = 2


class _Block(ctypes.Structure):
    _fields_ = [  # mirrors struct Block
        ("num_wavevectors", ctypes.c_int64),
        ("num_outputs", ctypes.c_int64),
        ("column", ctypes.c_int64),
        *((name, ctypes.c_void_p) for name in TABLES),
    ]


class _Crystals(ctypes.Structure):
    _fields_ = [  # mirrors struct Crystals
        ("cells", ctypes.c_void_p),
        ("batch", ctypes.c_void_p),
        ("space_group", ctypes.c_void_p),
        ("metric_of", ctypes.c_void_p),
        ("num_crystals", ctypes.c_int64),
    ]


def _load() -> dict[torch.dtype, ctypes._CFuncPtr] | None:
    spec = importlib.util.find_spec("spacegroup_nn._symmetrized_fourier")
    if spec is None or spec.origin is None:
        return None
    library = ctypes.CDLL(spec.origin)
    version = getattr(library, "sgnn_abi_version", None)
    if version is None or version() != ABI_VERSION:
        warnings.warn(
            f"{spec.origin} was compiled from another version of spacegroup_nn; features use "
            "the torch path (same values, slower) until the package is reinstalled",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    functions = {
        torch.float32: library.sgnn_symmetrized_fourier_f32,
        torch.float64: library.sgnn_symmetrized_fourier_f64,
    }
    for function in functions.values():
        function.restype = ctypes.c_int  # 0, or -1 for a batch index out of range
        function.argtypes = [
            ctypes.c_void_p,  # pos (N, 3)
            ctypes.c_int64,  # N
            ctypes.POINTER(_Crystals),
            ctypes.POINTER(_Block),
            ctypes.c_int64,  # number of blocks
            ctypes.c_int64,  # largest |k_d|
            ctypes.c_void_p,  # out (N, out_stride)
            ctypes.c_int64,  # out_stride
            ctypes.c_int64,  # threads
        ]
    return functions


_FUNCTIONS = _load()
AVAILABLE = _FUNCTIONS is not None


def supports(pos: Tensor, *others: Tensor) -> bool:
    """Whether the kernel was built and handles these positions (float32 or float64), with
    them and every other tensor it will read (cells, batch vector, tables) on the CPU."""
    on_cpu = all(tensor.device.type == "cpu" for tensor in (pos, *others))
    return _FUNCTIONS is not None and on_cpu and pos.dtype in _FUNCTIONS


def symmetrized_fourier(
    pos: Tensor,
    cell: Tensor,
    space_group: Tensor,
    batch: Tensor,
    metric_of: Tensor,
    blocks: Sequence[dict[str, Tensor]],
    max_index: int,
) -> Tensor:
    """Features of every atom in one call, without autograd.

    Parameters
    ----------
    pos : Tensor
        ``(N, 3)`` float32 or float64 Cartesian positions.
    cell : Tensor
        ``(B, 3, 3)`` cells with the dtype of ``pos``, rows are lattice vectors (inverted in
        float64 by the kernel).
    space_group : Tensor
        ``(B,)`` int64 space-group number of each crystal.
    batch : Tensor
        ``(N,)`` int64 crystal of each atom; atoms of one crystal should be contiguous (as in a
        PyG batch) for speed, not for correctness.
    metric_of : Tensor
        ``(G,)`` int64 block of every group; the tables of every group present must be filled.
    blocks : sequence of dict
        Per wave-vector block, in column order: ``wavevectors`` ``(K, 3)`` int32, ``half``
        ``(H,)`` int64, ``partner`` ``(H,)`` int64 (index of ``-k`` for ``k = half[j]``),
        ``orbit`` ``(G, K)`` int32 numbered 0, 1, ..., ``twelfths`` ``(G, K)`` int8 in 0..11,
        ``orbit_size`` ``(G, H)`` int32 (0 for an extinct ``k``); ``K == 2 H``.
    max_index : int
        Largest absolute component of any wave vector.

    Returns
    -------
    Tensor
        ``(N, sum of K)`` with the dtype of ``pos``: per block, Re then Im of the outputs.
    """
    keep = [  # referenced by the structs below until the call returns
        pos.contiguous(),
        cell.to(pos.dtype).contiguous(),
        batch.long().contiguous(),
        space_group.long().contiguous(),
        metric_of.long().contiguous(),
    ]
    crystals = _Crystals(*(tensor.data_ptr() for tensor in keep[1:]), len(space_group))
    structs, column = (_Block * len(blocks))(), 0
    for struct, block in zip(structs, blocks, strict=True):
        tables = [block[name].to(dtype).contiguous() for name, dtype in TABLE_DTYPES.items()]
        keep += tables
        half = len(block["half"])
        struct.num_wavevectors, struct.num_outputs, struct.column = len(block["wavevectors"]), half, column
        for name, table in zip(TABLES, tables, strict=True):
            setattr(struct, name, table.data_ptr())
        column += 2 * half
    out = pos.new_empty(pos.shape[0], column)
    status = _FUNCTIONS[pos.dtype](
        keep[0].data_ptr(),
        pos.shape[0],
        crystals,
        structs,
        len(structs),
        max_index,
        out.data_ptr(),
        column,
        torch.get_num_threads(),
    )
    if status:
        raise IndexError(f"batch indices must lie in [0, {len(space_group)}), the number of crystals")
    return out
