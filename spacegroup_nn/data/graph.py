r"""Exact periodic radius graphs.

A crystal is a finite set of atoms repeated by its lattice. Two atoms are neighbours when
*some* periodic image of one lies within the cut-off of the other, so an edge is a triple
``(i, j, L)``: target atom ``i``, source atom ``j`` and the integer lattice shift ``L`` of the
image of ``j``. Its edge vector is

.. math::

    \mathbf{r}_{ij}^{L} = \mathbf{x}_j + L \, C - \mathbf{x}_i,
    \qquad 0 < \lVert \mathbf{r}_{ij}^{L} \rVert \le r_\mathrm{cut},

with ``C`` the ``3 × 3`` lattice matrix whose **rows** are the lattice vectors (the convention
of pymatgen, ASE and spglib's Python API) and ``L`` a row vector of integers.

The graph is exact: every image inside the cut-off is returned, there is no cap on the number
of neighbours (a cap can give symmetry-equivalent atoms different neighbourhoods and so breaks
exact invariance), and cells much smaller than the cut-off and strongly skewed cells are
handled by deriving the image range from the interplanar spacings of the cell.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..errors import InvalidCellError, NonFiniteCoordinatesError
from ..groups._lattice import reduce_lattices

__all__ = [
    "RadiusGraphPBC",
    "edge_vectors",
    "periodic_graph",
    "radius_graph_pbc",
    "stored_graph",
    "with_radius_graphs",
]

#: Upper bound on the number of atom pairs, and of candidate ``(i, j, L)`` triples, examined at
#: once. The search is processed in chunks of this size, which bounds the peak memory (a few
#: hundred bytes per pair or candidate) independently of batch size, cut-off and cell size.
_CHUNK_SIZE = 1 << 21

#: Slack (in fractional units) added to the per-pair image range to guard against rounding.
_RANGE_SLACK = 1e-9

#: Relative tolerance on ``|det(C)| / (|a| |b| |c|)`` below which a cell counts as singular.
_SINGULAR_TOL = 1e-10


def _check_cutoff(cutoff: float) -> float:
    try:
        value = float(cutoff)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cutoff must be a positive finite number, got {cutoff!r}") from exc
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"cutoff must be a positive finite number (in Å), got {cutoff!r}")
    return value


def _check_inputs(pos: Tensor, cell: Tensor, batch: Tensor | None) -> tuple[Tensor, Tensor]:
    """Validate shapes and values; return ``cell`` as ``[B, 3, 3]`` and ``batch`` as ``[N]``."""
    if pos.dim() != 2 or pos.shape[1] != 3:
        raise ValueError(f"pos must have shape [N, 3], got {list(pos.shape)}")
    if not pos.is_floating_point():
        raise ValueError(f"pos must be a floating-point tensor, got dtype {pos.dtype}")
    if cell.dim() == 2:
        cell = cell.unsqueeze(0)
    if cell.dim() != 3 or cell.shape[1:] != (3, 3):
        raise ValueError(f"cell must have shape [B, 3, 3] (or [3, 3]), got {list(cell.shape)}")
    num_atoms, num_crystals = pos.shape[0], cell.shape[0]
    if batch is None:
        if num_crystals != 1:
            raise ValueError(f"batch is required when cell holds {num_crystals} crystals")
        batch = torch.zeros(num_atoms, dtype=torch.long, device=pos.device)
    else:
        if batch.dim() != 1 or batch.shape[0] != num_atoms:
            raise ValueError(f"batch must have shape [N] = [{num_atoms}], got {list(batch.shape)}")
        if batch.dtype != torch.long:
            batch = batch.long()
        if num_atoms > 0 and (int(batch.min()) < 0 or int(batch.max()) >= num_crystals):
            raise ValueError(
                f"batch values must lie in [0, {num_crystals}) (one cell per crystal), "
                f"got range [{int(batch.min())}, {int(batch.max())}]"
            )
    if not bool(torch.isfinite(pos).all()):
        bad = int((~torch.isfinite(pos)).any(dim=1).nonzero()[0])
        raise NonFiniteCoordinatesError(f"pos of atom {bad} is not finite: {pos[bad].tolist()}")
    if not bool(torch.isfinite(cell).all()):
        bad = int((~torch.isfinite(cell)).flatten(1).any(dim=1).nonzero()[0])
        raise NonFiniteCoordinatesError(f"cell of crystal {bad} is not finite: {cell[bad].tolist()}")
    return cell, batch


def radius_graph_pbc(
    pos: Tensor,
    cell: Tensor,
    cutoff: float,
    batch: Tensor | None = None,
    *,
    self_loops: bool = False,
) -> tuple[Tensor, Tensor]:
    r"""All neighbour pairs within ``cutoff`` under periodic boundary conditions.

    Returns every triple ``(i, j, L)``, ``L ∈ Z³``, of atoms ``i`` and ``j`` of the same crystal
    ``b`` with

    .. math::

        0 < \lVert \mathbf{x}_j + L \, C_b - \mathbf{x}_i \rVert \le r_\mathrm{cut},

    including images of an atom itself (``i == j``, ``L != 0``). Nothing is capped, so
    symmetry-equivalent atoms always receive equivalent neighbourhoods.

    Algorithm: each cell is first size-reduced to a unimodular equivalent basis ``C' = T C``
    (the same lattice with nearly orthogonal vectors). Positions are wrapped to fractional
    coordinates ``f ∈ [0, 1)³`` of ``C'``. An image ``L`` of ``j`` can be within the cut-off of
    ``i`` only if ``|f_j - f_i + L|_k <= cutoff · |b_k|`` for each ``k``, with ``b_k`` the
    reciprocal vectors of ``C'`` (rows of ``inv(C').T``), i.e. the cut-off divided by the
    spacing of the lattice planes; so ``|L_k| <= n_k = ceil(cutoff · |b_k|)``, and for every
    pair only the integers in that slab are examined. This is exact for tiny cells (cut-off many
    times the cell size) and strongly skewed cells. Candidates are processed in chunks of
    bounded size, vectorized over all pairs of all crystals (pairs only within one crystal).

    Positions do not have to lie in the cell: they are wrapped internally and the wrap (and the
    basis change ``T``) are folded into the returned shift, which is expressed in the basis of
    ``cell`` as given, so ``pos[j] + shift[e] @ cell[batch[j]] - pos[i]`` is the true edge
    vector for the positions *as given* (see :func:`edge_vectors`).

    The search runs without autograd (the graph is discrete); compute edge vectors from ``pos``
    with :func:`edge_vectors` to get gradients with respect to positions (and cell).

    Parameters
    ----------
    pos : Tensor
        ``[N, 3]`` float32 or float64 Cartesian positions in Å.
    cell : Tensor
        ``[B, 3, 3]`` lattice matrices, lattice vectors as **rows** (``cell[b, k]`` is the
        k-th lattice vector of crystal ``b``). A PyG ``Data`` stores it as ``[1, 3, 3]`` so that
        batching concatenates to ``[B, 3, 3]``. ``[3, 3]`` is accepted for one crystal.
        Left-handed cells (negative determinant) are fine.
    cutoff : float
        Cut-off radius in Å, finite and ``> 0``. The comparison ``distance <= cutoff`` is
        evaluated in float64 whatever the dtype of ``pos``.
    batch : Tensor, optional
        ``[N]`` long, crystal index of every atom in ``[0, B)``; need not be sorted. ``None``
        means all atoms belong to one crystal (then ``B`` must be 1).
    self_loops : bool, default False
        If True, also return the zero self-pair ``(i, i, 0)`` of every atom.

    Returns
    -------
    edge_index : Tensor
        ``[2, E]`` long, PyG convention: ``edge_index[0]`` is the source ``j``,
        ``edge_index[1]`` the target ``i``; messages flow ``j → i``. The graph is symmetric:
        ``(i, j, L)`` is present iff ``(j, i, -L)`` is.
    shift : Tensor
        ``[E, 3]`` lattice shifts ``L`` of the source image, integer-valued and of the **same
        floating dtype as pos** (exact for ``|L| < 2**24`` in float32), so that
        ``shift @ cell`` needs no cast. PyG does not increment it on batching.

    Edges are sorted by target ``i``, then source ``j``, then ``shift`` lexicographically, so
    the output is deterministic.

    Raises
    ------
    ValueError
        If ``cutoff`` is not a finite positive number, or shapes are inconsistent.
    spacegroup_nn.errors.NonFiniteCoordinatesError
        If a position or a lattice vector is NaN or infinite.
    spacegroup_nn.errors.InvalidCellError
        If a cell is singular (zero volume, relative to the lengths of its vectors).

    Notes
    -----
    Distinct atoms at the same position (distance 0) are *kept* as an edge pair; only the
    self-pair ``(i, i, L = 0)`` is dropped. Such structures are unphysical anyway.

    Examples
    --------
    >>> pos = torch.zeros(1, 3, dtype=torch.float64)
    >>> cell = 2.0 * torch.eye(3, dtype=torch.float64).unsqueeze(0)
    >>> edge_index, shift = radius_graph_pbc(pos, cell, cutoff=3.0)
    >>> edge_index.shape[1]  # images through the 6 faces and 12 edges of the cube
    18
    """
    r = _check_cutoff(cutoff)
    cell, batch = _check_inputs(pos, cell, batch)
    device, out_dtype = pos.device, pos.dtype
    num_atoms, num_crystals = pos.shape[0], cell.shape[0]

    with torch.no_grad():
        pos64 = pos.detach().to(torch.float64)
        cell64 = cell.detach().to(torch.float64)
        _check_singular(cell64)

        # Search in a reduced basis C' = T C (T unimodular): the same lattice, but with nearly
        # orthogonal vectors, so the image box below is tight even for very skewed cells.
        transform = torch.from_numpy(reduce_lattices(cell64.cpu().numpy())).to(device)  # [B, 3, 3] long
        cell_red = transform.to(torch.float64) @ cell64
        inv_red = torch.linalg.inv(cell_red)
        # Cut-off in units of the interplanar spacings: |b_k| = column norms of inv(C').
        reach = r * inv_red.norm(dim=1)  # [B, 3]

        # Wrap into [0, 1) fractional coordinates of C'; the integer wrap is folded back later.
        frac = torch.einsum("nk,nkl->nl", pos64, inv_red[batch])
        wrap = torch.floor(frac)
        frac = frac - wrap
        wrap = wrap.long()

        # Atoms grouped by crystal (ascending global index inside each crystal).
        order = torch.argsort(batch, stable=True)
        counts = torch.bincount(batch, minlength=num_crystals)
        atom_ptr = torch.cumsum(counts, 0) - counts
        num_pairs = counts * counts
        pair_end = torch.cumsum(num_pairs, 0)
        pair_start = pair_end - num_pairs
        total_pairs = int(pair_end[-1]) if num_crystals > 0 else 0

        r2 = r * r
        dst_parts: list[Tensor] = []
        src_parts: list[Tensor] = []
        shift_parts: list[Tensor] = []
        for p0 in range(0, total_pairs, _CHUNK_SIZE):
            # Ordered pairs (i, j) of one chunk, only within a crystal.
            p = torch.arange(p0, min(p0 + _CHUNK_SIZE, total_pairs), device=device)
            pb = torch.searchsorted(pair_end, p, right=True)
            local = p - pair_start[pb]
            pi = order[atom_ptr[pb] + local // counts[pb]]
            pj = order[atom_ptr[pb] + local % counts[pb]]
            # Fractional difference d in (-1, 1)^3; an image L can be within reach only if
            # |d_k + L_k| <= reach_k for every k (plane spacing bound), which gives a box of
            # candidate images per pair (a small slack guards against rounding).
            diff = frac[pj] - frac[pi]
            lo = torch.ceil(-reach[pb] - diff - _RANGE_SLACK).long()
            hi = torch.floor(reach[pb] - diff + _RANGE_SLACK).long()
            width = (hi - lo + 1).clamp(min=0)  # [P, 3]
            num_cand = width.prod(dim=1)
            cand_end = torch.cumsum(num_cand, 0)
            cand_start = cand_end - num_cand
            total_cand = int(cand_end[-1]) if len(p) > 0 else 0
            for c0 in range(0, total_cand, _CHUNK_SIZE):
                c = torch.arange(c0, min(c0 + _CHUNK_SIZE, total_cand), device=device)
                q = torch.searchsorted(cand_end, c, right=True)
                m = c - cand_start[q]
                w = width[q]
                img = torch.stack((m // (w[:, 1] * w[:, 2]), (m // w[:, 2]) % w[:, 1], m % w[:, 2]), dim=1)
                img = img + lo[q]
                b = pb[q]
                vec = torch.einsum("ek,ekl->el", diff[q] + img.to(torch.float64), cell_red[b])
                keep = (vec * vec).sum(dim=1) <= r2
                is_self = (pi[q] == pj[q]) & (img == 0).all(dim=1)
                keep = (keep | is_self) if self_loops else (keep & ~is_self)
                q, img, b = q[keep], img[keep], b[keep]
                i, j = pi[q], pj[q]
                # x_j + L C' - x_i with x = x_w + wrap C' and C' = T C:
                # shift in the original basis = (L - wrap_j + wrap_i) T.
                red_shift = img - wrap[j] + wrap[i]
                shift_parts.append((red_shift[:, :, None] * transform[b]).sum(dim=1))
                dst_parts.append(i)
                src_parts.append(j)

        if dst_parts:
            dst, src, shift = torch.cat(dst_parts), torch.cat(src_parts), torch.cat(shift_parts)
        else:
            dst = torch.empty(0, dtype=torch.long, device=device)
            src = torch.empty(0, dtype=torch.long, device=device)
            shift = torch.empty(0, 3, dtype=torch.long, device=device)

        perm = _lexsort_edges(dst, src, shift, num_atoms)
        edge_index = torch.stack((src[perm], dst[perm]), dim=0)
        shift = shift[perm].to(out_dtype)
    return edge_index, shift


def _lexsort_edges(dst: Tensor, src: Tensor, shift: Tensor, num_atoms: int) -> Tensor:
    """Permutation sorting edges by (target, source, shift) lexicographically."""
    if dst.numel() == 0:
        return torch.arange(0, device=dst.device)
    low = shift.min(dim=0).values
    extent = (shift.max(dim=0).values - low + 1).tolist()
    n = max(num_atoms, 1)
    if n * n * extent[0] * extent[1] * extent[2] < 2**62:  # one composite int64 key
        s = shift - low
        key = ((((dst * n + src) * extent[0] + s[:, 0]) * extent[1] + s[:, 1]) * extent[2]) + s[:, 2]
        return torch.argsort(key)
    perm = torch.arange(dst.shape[0], device=dst.device)  # stable sorts, least significant first
    for key in (shift[:, 2], shift[:, 1], shift[:, 0], dst * n + src):
        perm = perm[torch.argsort(key[perm], stable=True)]
    return perm


def _check_singular(cell: Tensor) -> None:
    """Raise :class:`InvalidCellError` if ``|det C|`` is tiny relative to ``|a| |b| |c|``."""
    det = torch.linalg.det(cell)
    scale = cell.norm(dim=2).prod(dim=1)
    singular = ~(det.abs() > _SINGULAR_TOL * scale)
    if bool(singular.any()):
        bad = int(singular.nonzero()[0])
        raise InvalidCellError(
            f"cell of crystal {bad} is singular (det = {float(det[bad]):.3g}): {cell[bad].tolist()}"
        )


def edge_vectors(
    pos: Tensor,
    cell: Tensor,
    edge_index: Tensor,
    shift: Tensor,
    batch: Tensor | None = None,
) -> Tensor:
    r"""Edge vectors of a periodic graph, differentiable w.r.t. ``pos`` and ``cell``.

    .. math::

        \mathbf{r}_e = \mathbf{x}_{j} + L_e \, C_{b(j)} - \mathbf{x}_{i},
        \qquad (j, i) = \texttt{edge\_index}[:, e].

    Parameters
    ----------
    pos : Tensor
        ``[N, 3]`` Cartesian positions (the same ones, wrapped or not, that were passed to
        :func:`radius_graph_pbc`).
    cell : Tensor
        ``[B, 3, 3]`` (or ``[3, 3]``) lattice vectors as rows.
    edge_index : Tensor
        ``[2, E]`` long, row 0 source ``j``, row 1 target ``i``.
    shift : Tensor
        ``[E, 3]`` integer-valued lattice shifts (float or long).
    batch : Tensor, optional
        ``[N]`` long crystal index of every atom; ``None`` means one crystal.

    Returns
    -------
    Tensor
        ``[E, 3]`` vectors from target ``i`` to the image of source ``j``, dtype of ``pos``.
    """
    if cell.dim() == 2:
        cell = cell.unsqueeze(0)
    src, dst = edge_index[0], edge_index[1]
    shift = shift.to(pos.dtype)
    if batch is None:
        offset = shift @ cell[0].to(pos.dtype)
    else:
        offset = torch.einsum("ek,ekl->el", shift, cell.to(pos.dtype)[batch[src]])
    return pos[src] + offset - pos[dst]


class RadiusGraphPBC(BaseTransform):
    r"""Build the exact periodic radius graph of a crystal (see :func:`radius_graph_pbc`).

    Reads ``data.pos`` (``[N, 3]``, Å) and ``data.cell`` (``[1, 3, 3]``, lattice vectors as
    rows; ``[B, 3, 3]`` together with ``data.batch`` for a batch) and writes

    - ``data.edge_index``: ``[2, E]`` long, row 0 source ``j``, row 1 target ``i``;
    - ``data.edge_shift``: ``[E, 3]`` integer-valued lattice shifts, dtype of ``pos``,

    so that ``pos[j] + edge_shift @ cell - pos[i]`` is the edge vector (:func:`edge_vectors`).
    ``edge_shift`` is not incremented by PyG batching, as it should not be. It also records
    what the graph was built for, so that models can reuse it safely (:func:`stored_graph`):

    - ``data.edge_cutoff``: ``[1]`` float64 cutoff (``[B]`` after batching);
    - ``data.edge_max_neighbors``: ``[1]`` int64, 0 here: the graph keeps every neighbour
      (:func:`with_radius_graphs` can keep only the nearest few);
    - ``data.graph_pos``, ``data.graph_cell``: copies of ``pos`` and ``cell``.

    Parameters
    ----------
    cutoff : float
        Cut-off radius in Å, finite and ``> 0``.
    self_loops : bool, default False
        Also add the zero self-pair of every atom.
    """

    def __init__(self, cutoff: float, self_loops: bool = False) -> None:
        self.cutoff = _check_cutoff(cutoff)
        self.self_loops = bool(self_loops)

    def forward(self, data: Data) -> Data:
        if getattr(data, "pos", None) is None or getattr(data, "cell", None) is None:
            raise ValueError("RadiusGraphPBC needs data.pos [N, 3] and data.cell [1, 3, 3]")
        batch = getattr(data, "batch", None)
        edge_index, shift = radius_graph_pbc(
            data.pos, data.cell, self.cutoff, batch, self_loops=self.self_loops
        )
        return _store_graph(data, edge_index, shift, self.cutoff)

    def __repr__(self) -> str:
        extra = ", self_loops=True" if self.self_loops else ""
        return f"{self.__class__.__name__}(cutoff={self.cutoff}{extra})"


def _store_graph(
    data: Data, edge_index: Tensor, shift: Tensor, cutoff: float, max_neighbors: int = 0
) -> Data:
    """Write the graph into ``data`` with what it was built for (see :class:`RadiusGraphPBC`)."""
    data.edge_index, data.edge_shift = edge_index, shift
    crystals = data.cell.view(-1, 3, 3).shape[0]
    data.edge_cutoff = torch.full((crystals,), float(cutoff), dtype=torch.float64)
    data.edge_max_neighbors = torch.full((crystals,), max_neighbors, dtype=torch.long)
    data.graph_pos, data.graph_cell = data.pos.clone(), data.cell.clone()
    return data


def stored_graph(data: Data, cutoff: float, max_neighbors: int | None = None) -> tuple[Tensor, Tensor] | None:
    """The edges of the graph stored by :class:`RadiusGraphPBC` within ``cutoff``, if valid.

    Valid means built for exactly the current ``pos`` and ``cell`` (they are compared with
    the recorded copies, so a crystal moved after the graph was built gets ``None``, never a
    stale graph) with a cutoff of at least ``cutoff`` for every crystal. A larger stored
    cutoff is cut down with the same float64 test as :func:`radius_graph_pbc`. A graph that
    keeps only the ``k`` nearest edges of every atom (:func:`with_radius_graphs`) is valid
    only for a caller that keeps at most ``max_neighbors <= k`` nearest edges itself
    (:func:`nearest_edges`): the caller then selects the same edges as from the full graph.

    Returns
    -------
    tuple of Tensor or None
        ``(edge_index [2, E], shift [E, 3])`` as :func:`radius_graph_pbc` returns them for
        ``cutoff`` (less the edges beyond the stored nearest ``k``), or ``None`` when there
        is no valid stored graph.
    """
    if not _graph_is_current(data):
        return None
    stored = data.edge_cutoff
    if bool((stored < cutoff).any()):
        return None
    kept = getattr(data, "edge_max_neighbors", None)
    if kept is not None and bool((kept > 0).any()):
        if max_neighbors is None or bool(((kept > 0) & (kept < max_neighbors)).any()):
            return None
    edge_index, shift = data.edge_index, data.edge_shift
    if bool((stored > cutoff).any()):
        batch = getattr(data, "batch", None)
        vectors = edge_vectors(data.pos.double(), data.cell.double(), edge_index, shift.double(), batch)
        near = torch.linalg.vector_norm(vectors, dim=-1) <= cutoff
        edge_index, shift = edge_index[:, near], shift[near]
    return edge_index, shift


def periodic_graph(
    pos: Tensor,
    cell: Tensor,
    cutoff: float,
    batch: Tensor | None = None,
    data: Data | None = None,
    max_neighbors: int | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`radius_graph_pbc`, or the valid graph stored in ``data`` (:func:`stored_graph`).

    ``max_neighbors`` declares that the caller keeps only that many nearest edges of every
    atom, which lets it use a stored graph pruned to them.
    """
    graph = stored_graph(data, cutoff, max_neighbors) if data is not None else None
    return graph if graph is not None else radius_graph_pbc(pos, cell, cutoff, batch)


def nearest_edges(target: Tensor, distance: Tensor, count: int) -> Tensor:
    """Indices, ascending, of the ``count`` shortest edges ``(E,)`` of every target (stable on ties)."""
    order = torch.argsort(distance, stable=True)
    order = order[torch.argsort(target[order], stable=True)]
    sorted_target = target[order]
    first = torch.searchsorted(sorted_target, sorted_target, right=False)
    rank = torch.arange(len(order), device=target.device) - first
    return torch.sort(order[rank < count]).values


def _graph_is_current(data: Data) -> bool:
    """Whether ``data`` stores a graph built for its current ``pos`` and ``cell``."""
    if getattr(data, "edge_cutoff", None) is None or getattr(data, "graph_pos", None) is None:
        return False
    return torch.equal(data.graph_pos, data.pos) and torch.equal(data.graph_cell, data.cell)


def _stores_graph(crystal: Data, cutoff: float, max_neighbors: int) -> bool:
    """Whether ``crystal`` stores the graph :func:`with_radius_graphs` would search for it."""
    kept = getattr(crystal, "edge_max_neighbors", None)
    return (
        _graph_is_current(crystal)
        and kept is not None
        and bool((crystal.edge_cutoff == cutoff).all())
        and bool((kept == max_neighbors).all())
    )


def with_radius_graphs(
    crystals: Sequence[Data], cutoff: float, chunk: int = 256, max_neighbors: int | None = None
) -> list[Data]:
    """Shallow copies of ``crystals``, each with its graph stored (:class:`RadiusGraphPBC`).

    Graphs are searched ``chunk`` crystals at a time (one vectorized call each) and split
    back per crystal: the same edges, in the same order, as one call per crystal. With
    ``max_neighbors``, only the nearest ``max_neighbors`` edges of every atom are stored
    (:func:`nearest_edges` on the lengths of :func:`edge_vectors`, as a model capped at that
    many neighbours selects them), a graph only such models use (:func:`stored_graph`).
    A crystal that already stores this graph (same ``cutoff`` and ``max_neighbors``, built
    for its current positions and cell) is returned as it is, without a search, so crystals
    prepared once serve every later call.
    """
    if max_neighbors is not None and (isinstance(max_neighbors, bool) or not int(max_neighbors) >= 1):
        raise ValueError(f"max_neighbors must be a positive integer or None, got {max_neighbors!r}")
    out = [crystals[i] for i in range(len(crystals))]
    missing = [i for i, crystal in enumerate(out) if not _stores_graph(crystal, cutoff, max_neighbors or 0)]
    for start in range(0, len(missing), chunk):
        indices = missing[start : start + chunk]
        part = [out[i] for i in indices]
        batch = torch.cat([torch.full((c.num_nodes,), i, dtype=torch.long) for i, c in enumerate(part)])
        pos = torch.cat([c.pos for c in part])
        cell = torch.cat([c.cell.view(-1, 3, 3) for c in part])
        edge_index, shift = radius_graph_pbc(pos, cell, cutoff, batch)
        if max_neighbors is not None:
            distance = edge_vectors(pos, cell, edge_index, shift, batch).norm(dim=-1)
            keep = nearest_edges(edge_index[1], distance, max_neighbors)
            edge_index, shift = edge_index[:, keep], shift[keep]
        offsets = torch.cumsum(torch.tensor([0] + [c.num_nodes for c in part]), 0)
        # edges are sorted by target, so each crystal's edges are one contiguous run
        ends = torch.searchsorted(edge_index[1], offsets[1:], right=False).tolist()
        first = 0
        for index, (crystal, last) in enumerate(zip(part, ends, strict=True)):
            stored = copy.copy(crystal)  # shares the crystal's tensors; the graph is its own
            edges = edge_index[:, first:last] - offsets[index]
            out[indices[index]] = _store_graph(stored, edges, shift[first:last], cutoff, max_neighbors or 0)
            first = last
    return out
