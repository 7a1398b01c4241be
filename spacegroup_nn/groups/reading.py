"""Structures from CIF / POSCAR text and structure files, every failure a typed error.

pymatgen reports malformed input with many exception types, or skips a CIF block with a
warning. Here every failure is a :class:`~spacegroup_nn.errors.StructureError` whose message
starts with the item's name. When pymatgen cannot build a structure, the text is examined for
a cause that has its own type: non-finite numbers (:class:`NonFiniteCoordinatesError`), CIF
cell parameters of zero or negative volume, or a molecule instead of a crystal
(:class:`InvalidCellError`); otherwise the error is a :class:`StructureParseError`.
"""

from __future__ import annotations

import fnmatch
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import InvalidCellError, NonFiniteCoordinatesError, StructureParseError

if TYPE_CHECKING:
    from pymatgen.core import Molecule, Structure

__all__ = ["TEXT_FORMAT_PATTERNS", "parse_structure", "read_structure", "text_format"]

TextFormat = Literal["cif", "poscar"]

#: File name patterns of the text formats, lowercase (pymatgen's rules for Structure.from_file).
TEXT_FORMAT_PATTERNS: dict[TextFormat, tuple[str, ...]] = {
    "cif": ("*.cif*", "*.mcif*"),
    "poscar": ("*poscar*", "*contcar*", "*.vasp*"),
}


def parse_structure(text: str, fmt: TextFormat, name: str) -> Structure:
    """The single structure of CIF or POSCAR text, as pymatgen reads it (not yet checked).

    Parameters
    ----------
    text : str
        The content of a CIF (exactly one structure) or of a POSCAR / CONTCAR.
    fmt : {"cif", "poscar"}
        The format of ``text``.
    name : str
        The item's name, the start of every error message.

    Returns
    -------
    pymatgen.core.Structure
        As parsed: it may still be disordered, left-handed or overlapping
        (:func:`~spacegroup_nn.standardize` checks that).

    Raises
    ------
    NonFiniteCoordinatesError
        A cell parameter or coordinate of the CIF is NaN or infinite.
    InvalidCellError
        The CIF cell has zero or negative volume (a length <= 0, or angles that close no
        cell), or the text is a molecule (XYZ) rather than a crystal.
    StructureParseError
        Anything else pymatgen cannot read (truncated, garbled, empty text), or a CIF with
        several structures, or with a data block pymatgen cannot read next to a good one
        (it is named, never skipped).

    Examples
    --------
    >>> parse_structure("not a CIF", "cif", name="row 7")
    Traceback (most recent call last):
    ...
    spacegroup_nn.errors.StructureParseError: row 7: cannot parse the CIF (ValueError: ...)
    """
    try:
        structures, atom_blocks, skipped = _quietly(lambda: _parse(text, fmt))
    except Exception as error:  # pymatgen raises many types for malformed input
        _raise_if_molecule(lambda: _xyz_molecule(text), name)
        if fmt == "cif":
            _diagnose_cif(text, name)
        raise StructureParseError(f"{name}: cannot parse the {fmt.upper()} ({_describe(error)})") from error
    if len(atom_blocks) > len(structures):  # pymatgen skipped a garbled block with a warning
        _diagnose_cif(text, name)
        reasons = f" ({'; '.join(skipped)})" if skipped else ""
        raise StructureParseError(
            f"{name}: the CIF has {len(atom_blocks)} data blocks with atom sites "
            f"({', '.join(atom_blocks)}), of which pymatgen read {len(structures)}{reasons}; "
            "expected exactly one structure"
        )
    if len(structures) != 1:
        raise StructureParseError(f"{name}: the CIF holds {len(structures)} structures, expected one")
    return structures[0]


def read_structure(path: Path, name: str) -> Structure:
    """The single structure of a file: CIF and POSCAR through :func:`parse_structure`.

    Other files go to pymatgen's ``Structure.from_file``; one that holds a molecule (XYZ,
    ...) raises :class:`InvalidCellError`, any other failure :class:`StructureParseError`.
    """
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise StructureParseError(f"{name}: {problem}")
    fmt = text_format(path)
    if fmt is not None:
        return parse_structure(_read_text(path, name), fmt, name)
    from pymatgen.core import Molecule, Structure

    try:
        return _quietly(lambda: Structure.from_file(path))
    except Exception as error:
        _raise_if_molecule(lambda: Molecule.from_file(path), name)
        raise StructureParseError(f"{name}: cannot read a structure ({_describe(error)})") from error


def text_format(path: Path) -> TextFormat | None:
    """``"cif"`` or ``"poscar"`` by the file name (as pymatgen decides), else ``None``."""
    lowered = path.name.lower()
    for fmt, patterns in TEXT_FORMAT_PATTERNS.items():
        if any(fnmatch.fnmatch(lowered, pattern) for pattern in patterns):
            return fmt
    return None


def _read_text(path: Path, name: str) -> str:
    from monty.io import zopen

    try:
        with zopen(path, mode="rt", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as error:
        raise StructureParseError(f"{name}: cannot read the file ({_describe(error)})") from error


def _parse(text: str, fmt: TextFormat) -> tuple[list[Structure], list[str], list[str]]:
    """The structures pymatgen reads from ``text``, with what it did not read.

    Returns
    -------
    structures : list of Structure
        The structures pymatgen built.
    atom_blocks : list of str
        The names of the CIF's data blocks with atom sites (empty for a POSCAR).
    skipped : list of str
        pymatgen's reasons for the blocks with atoms it skipped (one line each).
    """
    from pymatgen.core import Structure
    from pymatgen.io.cif import CifParser

    if fmt == "poscar":
        return [Structure.from_str(text, fmt="poscar")], [], []
    parser = CifParser.from_str(text)
    # pymatgen skips blocks without atoms, and garbled blocks with only a warning; raising
    # instead (on_error="raise") would reject publication blocks too, so count the blocks.
    structures = parser.parse_structures(primitive=False)
    atom_blocks = [block for block, data in parser.as_dict().items() if _has_atom_sites(data)]
    skipped = [" ".join(message.split()) for message in parser.warnings if "No structure parsed" in message]
    return structures, atom_blocks, skipped


def _has_atom_sites(data: dict[str, Any]) -> bool:
    """Whether a CIF block (``{key: value}``) has atom positions, what a structure needs (not
    a publication block, nor one of displacement parameters alone, ``_atom_site_aniso_*``)."""
    keys = {key.lower() for key in data}
    return "_atom_site_fract_x" in keys or "_atom_site_cartn_x" in keys


def _quietly(call: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def _describe(error: Exception) -> str:
    """``"Type: first line of the message"``."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _xyz_molecule(text: str) -> Molecule:
    from pymatgen.core import Molecule

    return Molecule.from_str(text, fmt="xyz")


def _raise_if_molecule(read: Callable[[], Molecule], name: str) -> None:
    """Raise :class:`InvalidCellError` if ``read()`` gives a molecule with atoms."""
    try:
        molecule = _quietly(read)
    except Exception:
        return
    if len(molecule):
        raise InvalidCellError(
            f"{name}: holds a molecule ({molecule.formula}), not a periodic crystal "
            "(see PointGroup.from_molecule)"
        )


def _diagnose_cif(text: str, name: str) -> None:
    """Raise the typed error of a CIF pymatgen cannot read, when its cause is one we name."""
    from pymatgen.io.cif import CifFile

    try:
        blocks = CifFile.from_str(text).data.values()
    except Exception:  # not even CIF syntax: a parse error
        return
    for block in blocks:
        data = {key.lower(): value for key, value in block.data.items()}
        if not _has_atom_sites(data):
            continue  # a block without atoms (publication data)
        _check_cif_cell(data, name)
        _check_cif_coordinates(data, name)


def _check_cif_cell(data: dict[str, Any], name: str) -> None:
    """Non-finite, non-positive or impossible cell parameters of a CIF block (if all are numbers)."""
    lengths = [_cif_float(data.get(f"_cell_length_{axis}")) for axis in "abc"]
    if None in lengths:
        return  # missing or garbled: a parse error
    angles = [_cif_float(data.get(f"_cell_angle_{angle}")) for angle in ("alpha", "beta", "gamma")]
    angles = [90.0 if angle is None else angle for angle in angles]
    if not all(math.isfinite(v) for v in (*lengths, *angles)):
        raise NonFiniteCoordinatesError(
            f"{name}: the cell parameters a, b, c = {lengths} Å, alpha, beta, gamma = {angles} deg "
            "are not all finite"
        )
    if min(lengths) <= 0:
        raise InvalidCellError(
            f"{name}: the cell lengths {lengths} Å are not all positive: zero or negative volume"
        )
    cosines = [math.cos(math.radians(angle)) for angle in angles]
    factor = 1 - sum(c * c for c in cosines) + 2 * math.prod(cosines)  # (V / abc) ** 2
    if factor <= 1e-12:
        raise InvalidCellError(
            f"{name}: the cell angles {angles} deg close no cell ((V / abc)^2 = {factor:.3g}): "
            "zero or negative volume"
        )


def _check_cif_coordinates(data: dict[str, Any], name: str) -> None:
    """Non-finite atom coordinates of a CIF block, naming the atom by its label."""
    labels = _column(data, "_atom_site_label")
    for kind in ("fract", "cartn"):
        for axis in "xyz":
            for index, value in enumerate(_column(data, f"_atom_site_{kind}_{axis}")):
                number = _cif_float(value)
                if number is not None and not math.isfinite(number):
                    atom = labels[index] if index < len(labels) else f"#{index}"
                    raise NonFiniteCoordinatesError(
                        f"{name}: atom {atom} has a non-finite coordinate {axis} = {value}"
                    )


def _column(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    return [value] if isinstance(value, str) else list(value)


def _cif_float(value: str | None) -> float | None:
    """A CIF number (``4.05(2)``, ``nan``, ``inf``); ``None`` if absent or unknown (``?``, ``.``)."""
    from pymatgen.io.cif import str2float

    if value is None or value.strip() in ("?", "."):
        return None
    try:
        return float(str2float(value))
    except (ValueError, TypeError):
        return None
