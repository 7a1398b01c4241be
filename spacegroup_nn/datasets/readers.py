"""Readers of crystal datasets: CDVAE-style CSV, JSON columns, CGCNN and ALIGNN folders.

Every reader returns a :class:`RecordReader`. Iteration yields one item per input row, in
input order: a :class:`Record` ``(id, structure, targets)`` or a :class:`Reject`
``(id, reason)``. Nothing is dropped silently, so ``good + rejected == len(reader)`` always.

The CSV, CGCNN and ALIGNN readers stream: each pass over the rows reads the source anew
(CSV files in chunks of :data:`CSV_CHUNK_ROWS` rows, structure files one at a time), so a
pass holds one chunk of text, not the file; only the header (CSV) or the existence of
``id_prop.csv`` is checked when the reader is made. ``len(reader)``, ``reader.ids`` and
``reader.target_names`` take one such pass (without parsing structures). The JSON reader
cannot stream: a JSON document of columns (pandas ``to_json()``) has to be parsed whole
before its first row is known, so :func:`read_json` holds the parsed file, about 3-5 times
its size on disk. Convert a JSON dataset larger than memory to CSV first (see
``docs/performance.md``).

Supported layouts
-----------------
``"csv"``
    A CSV file with a ``cif`` column of CIF text and an id column (``material_id``), as
    distributed with CDVAE (perov_5, carbon_24, mp_20), or a folder: all its ``*.csv`` files
    are pooled in name order. Every other column is a target (the unnamed pandas index
    column is skipped).
``"json"``
    A JSON file of columns, ``{column: {row_key: value}}`` (pandas ``to_json()``), or of
    rows, ``[{column: value}, ...]``, with a ``cif`` column; or a folder holding one such
    file (besides ``split.json``). The mp_elastic columns ``elasticity.K_Voigt`` and
    ``elasticity.G_Voigt`` get derived targets ``log10_K_Voigt`` and ``log10_G_Voigt``.
``"cgcnn"``
    A folder of ``<id>.cif`` files and an ``id_prop.csv`` without header, rows ``id,target``
    (CGCNN). Further columns become targets ``target_1``, ``target_2``, ...
``"alignn"``
    A folder of structure files (POSCAR / ``.vasp``; ``.cif`` files are read as CIF) and an
    ``id_prop.csv`` without header, rows ``filename,target`` (ALIGNN). The id is the
    file name as written in ``id_prop.csv``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ..errors import StructureError
from ..groups.reading import parse_structure, text_format
from .errors import DatasetError

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = [
    "CSV_CHUNK_ROWS",
    "FORMATS",
    "InvalidTarget",
    "Record",
    "RecordReader",
    "Reject",
    "detect_format",
    "read_alignn",
    "read_cgcnn",
    "read_csv",
    "read_json",
    "read_records",
]

Format = Literal["csv", "json", "cgcnn", "alignn"]
FORMATS: tuple[str, ...] = ("csv", "json", "cgcnn", "alignn")

ID_PROP = "id_prop.csv"
#: Rows per chunk of the streaming CSV reader (about 2 MB of CIF text for CDVAE files).
CSV_CHUNK_ROWS = 1000
# Columns that are never targets: the pandas index written by ``DataFrame.to_csv``.
_INDEX_COLUMNS = ("", "Unnamed: 0", "index")
# Derived targets of the JSON reader: name -> source column (log10 of a positive modulus).
_LOG10_TARGETS = {"log10_K_Voigt": "elasticity.K_Voigt", "log10_G_Voigt": "elasticity.G_Voigt"}


class Record(NamedTuple):
    """One usable row: ``(id, structure, targets)``.

    Attributes
    ----------
    id : str
        The row's identifier (``material_id``, CGCNN id or ALIGNN file name).
    structure : pymatgen.core.Structure
        The structure as parsed, not yet standardized (it may be disordered or have
        overlapping atoms: :class:`~spacegroup_nn.datasets.CrystalDataset` checks that).
    targets : dict[str, Any]
        Every property of the row: ``float`` for numbers (``nan`` where the source says NaN),
        ``list`` for tensors (nested lists of numbers, e.g. a 6×6 elastic tensor), ``str``
        for text columns (e.g. ``formula``), :class:`InvalidTarget` for derived targets that
        cannot be computed. A value missing in the source (an empty cell) has no key.
    """

    id: str
    structure: Structure
    targets: dict[str, Any]


class Reject(NamedTuple):
    """One row that cannot be used: ``(id, reason)``."""

    id: str
    reason: str


@dataclass(frozen=True)
class InvalidTarget:
    """Placeholder of a target that exists but cannot be computed for this row.

    Example: ``log10_K_Voigt`` of a row with a non-positive bulk modulus. Datasets reject
    the row for that target with ``reason``; the row stays usable for the other targets.
    """

    reason: str


@dataclass(frozen=True)
class _Row:
    """A row before its structure is parsed."""

    id: str
    targets: dict[str, Any]
    # Structure source: ``text`` with its format, or a file ``path``; or a known ``problem``.
    text: str | None = None
    path: Path | None = None
    fmt: Literal["cif", "poscar"] = "cif"
    problem: str | None = None


class RecordReader:
    """The rows of a dataset source, parsed lazily.

    Built by :func:`read_records` and the ``read_*`` functions; not meant to be constructed
    directly. Every iteration is a new pass over the source; streaming readers (CSV, CGCNN,
    ALIGNN) hold one chunk of it at a time.

    Attributes
    ----------
    source : pathlib.Path
        The file or folder that was read.
    format : str
        One of :data:`FORMATS`.
    files : tuple[pathlib.Path, ...]
        Every file the rows come from (for cache keys; a pass for folder layouts).
    target_names : tuple[str, ...]
        Sorted names of the targets that at least one row has (a pass, then cached).
    """

    def __init__(
        self,
        source: Path,
        format: str,
        rows: list[_Row] | Callable[[], Iterator[_Row]],
        files: list[Path] | Callable[[], list[Path]],
    ) -> None:
        self.source = source
        self.format = format
        self._rows = rows
        self._files = files
        self._scanned: tuple[int, tuple[str, ...]] | None = None

    def _iter_rows(self) -> Iterator[_Row]:
        """The rows before parsing, in input order (a new pass over the source)."""
        return iter(self._rows) if isinstance(self._rows, list) else self._rows()

    def _scan(self) -> tuple[int, tuple[str, ...]]:
        if self._scanned is None:
            count = 0
            names: set[str] = set()
            for row in self._iter_rows():
                count += 1
                names.update(row.targets)
            self._scanned = count, tuple(sorted(names))
        return self._scanned

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(self._files if isinstance(self._files, list) else self._files())

    @property
    def target_names(self) -> tuple[str, ...]:
        return self._scan()[1]

    def __len__(self) -> int:
        """Number of input rows (after ``limit``), good and bad."""
        return self._scan()[0]

    def __iter__(self) -> Iterator[Record | Reject]:
        """Parse the rows in input order: a :class:`Record` or a :class:`Reject` per row."""
        for row in self._iter_rows():
            yield _parse_row(row)

    @property
    def ids(self) -> list[str]:
        """The ids of all rows, in input order (no parsing)."""
        return [row.id for row in self._iter_rows()]

    def read(self) -> tuple[list[Record], list[Reject]]:
        """Parse every row: ``(records, rejects)`` with ``len(records) + len(rejects) == len(self)``."""
        records: list[Record] = []
        rejects: list[Reject] = []
        for item in self:
            (records if isinstance(item, Record) else rejects).append(item)
        return records, rejects

    def __repr__(self) -> str:
        return f"RecordReader(source={str(self.source)!r}, format={self.format!r})"


def read_records(
    path: str | os.PathLike, format: str | None = None, *, limit: int | None = None, **kwargs: Any
) -> RecordReader:
    """Read any supported source, detecting its layout with :func:`detect_format`.

    Parameters
    ----------
    path : str or os.PathLike
        A CSV or JSON file, or a folder (CSV files, one JSON file, CGCNN or ALIGNN layout).
    format : str, optional
        One of :data:`FORMATS`; detected when omitted.
    limit : int, optional
        Read only the first ``limit`` rows (in input order, before parsing).
    **kwargs
        Passed to the reader (e.g. ``id_column`` of :func:`read_csv`).

    Returns
    -------
    RecordReader

    Raises
    ------
    DatasetError
        Unknown layout or unusable source (naming the path).
    """
    format = format or detect_format(path)
    readers: dict[str, Callable[..., RecordReader]] = {
        "csv": read_csv,
        "json": read_json,
        "cgcnn": read_cgcnn,
        "alignn": read_alignn,
    }
    if format not in readers:
        raise DatasetError(f"{path}: unknown format {format!r}, expected one of {FORMATS}")
    return readers[format](path, limit=limit, **kwargs)


def detect_format(path: str | os.PathLike) -> Format:
    """The layout of a dataset source, one of :data:`FORMATS`.

    Rules: a ``.csv`` file is ``"csv"``, a ``.json`` file ``"json"``. A folder with an
    ``id_prop.csv`` is ``"alignn"`` if the first field of its first row names a file of the
    folder, ``"cgcnn"`` if ``<field>.cif`` exists (otherwise decided by the structure files
    present); a folder with ``*.csv`` files is ``"csv"``; a folder with exactly one JSON file
    other than ``split.json`` is ``"json"``.

    Raises
    ------
    DatasetError
        The path does not exist or matches no layout; the message names the path.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: does not exist")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return "csv"
        if suffix == ".json":
            return "json"
        raise DatasetError(
            f"{path}: unknown dataset file type {path.suffix!r}; expected a .csv file with a 'cif' "
            "column, a .json file of columns, or a CGCNN/ALIGNN folder"
        )
    id_prop = path / ID_PROP
    if id_prop.is_file():
        first = _first_field(id_prop)
        if first and (path / first).is_file():
            return "alignn"
        if first and (path / f"{first}.cif").is_file():
            return "cgcnn"
        if any(path.glob("*.cif")):
            return "cgcnn"
        if any(_is_poscar(p) for p in path.iterdir()):
            return "alignn"
        raise DatasetError(
            f"{path}: has {ID_PROP} but neither '{first}' nor '{first}.cif' nor any structure "
            "file (*.cif, POSCAR*, *.vasp)"
        )
    if any(path.glob("*.csv")):
        return "csv"
    if len(_json_files(path)) == 1:
        return "json"
    raise DatasetError(
        f"{path}: unknown dataset layout; expected CSV files with a 'cif' column, one JSON file of "
        f"columns, a CGCNN folder (*.cif + {ID_PROP}) or an ALIGNN folder (POSCAR files + {ID_PROP})"
    )


def read_csv(
    path: str | os.PathLike,
    *,
    id_column: str = "material_id",
    cif_column: str = "cif",
    limit: int | None = None,
) -> RecordReader:
    """Read a CDVAE-style CSV file, or pool all ``*.csv`` files of a folder (name order).

    Parameters
    ----------
    path : str or os.PathLike
        A CSV file or a folder of CSV files.
    id_column : str
        Column of the ids (default ``material_id``). Without it, ids are
        ``<file name>:<row>``, rows counted from 1 after the header.
    cif_column : str
        Column of the CIF text (default ``cif``).
    limit : int, optional
        Read only the first ``limit`` rows (of the pooled files).

    Returns
    -------
    RecordReader
        Targets: every other column (numbers as ``float``, text as ``str``); an empty cell
        leaves the target missing. Rows with an empty CIF or a duplicate id are rejected.

    Raises
    ------
    DatasetError
        No CSV file, an unreadable CSV, or a CSV without the CIF column.
    """
    path = Path(path)
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise DatasetError(f"{path}: no CSV files")
    for file in files:  # the header now, the rows while iterating
        columns = next(_csv_chunks(file, 0, None)).iloc[0].tolist()
        repeated = sorted({name for name in columns if name and columns.count(name) > 1})
        if repeated:  # pandas would rename the second one silently ("heat_ref.1")
            raise DatasetError(f"{file}: the header repeats the column(s) {repeated}; columns are {columns}")
        if cif_column not in columns:
            hint = f" (for a CGCNN/ALIGNN {ID_PROP}, pass its folder)" if file.name == ID_PROP else ""
            raise DatasetError(f"{file}: no {cif_column!r} column of CIF text; columns are {columns}{hint}")

    def rows() -> Iterator[_Row]:
        seen: dict[str, str] = {}
        count = 0
        for file in files:
            if limit is not None and count >= limit:
                return
            position = 0
            remaining = None if limit is None else limit - count
            for frame in _csv_chunks(file, CSV_CHUNK_ROWS, remaining):
                skip = (id_column, cif_column, *_INDEX_COLUMNS)
                target_columns = [c for c in frame.columns if c not in skip]
                for values in frame.to_dict("records"):
                    position += 1
                    count += 1
                    where = f"{file.name} row {position}"
                    key = values.get(id_column, "").strip() if id_column in frame.columns else ""
                    key = key or f"{file.name}:{position}"
                    targets = _targets({c: values[c] for c in target_columns})
                    cif = values[cif_column]
                    row = _unique(key, where, seen, _Row(key, targets, text=cif, fmt="cif"))
                    if not cif.strip():
                        row = _Row(key, targets, problem=f"empty {cif_column!r} cell ({where})")
                    yield row

    return RecordReader(path, "csv", rows, files)


def _csv_chunks(file: Path, chunk_rows: int, nrows: int | None) -> Iterator[Any]:
    """pandas frames of ``chunk_rows`` rows of a CSV file, all text (``0``: one frame whose
    only row is the header as written, before pandas renames repeated names).

    Raises
    ------
    DatasetError
        The file cannot be read or parsed (raised at the chunk where the problem is).
    """
    import pandas as pd

    options: dict[str, Any] = {"dtype": str, "keep_default_na": False}
    try:
        if chunk_rows == 0:
            yield pd.read_csv(file, nrows=1, header=None, **options)
            return
        chunks = pd.read_csv(file, chunksize=chunk_rows, nrows=nrows, **options)
        with chunks:
            while True:
                try:
                    frame = next(chunks)
                except StopIteration:
                    return
                yield frame
    except DatasetError:
        raise
    except UnicodeDecodeError as error:
        line = _first_undecodable_line(file)
        raise DatasetError(
            f"{file}: cannot read the CSV: line {line} is not UTF-8 text ({error.reason}, byte "
            f"{error.object[error.start : error.end]!r}); save the file as UTF-8"
        ) from error
    except Exception as error:
        message = " ".join(str(error).split())  # pandas' messages end with a line break
        raise DatasetError(f"{file}: cannot read the CSV ({type(error).__name__}: {message})") from error


def _leaves_folder(name: str) -> bool:
    """Whether the file name of an ``id_prop.csv`` row is absolute or climbs out of its folder."""
    path = Path(os.path.normpath(name))
    return path.is_absolute() or path.parts[:1] == ("..",)


def _first_undecodable_line(file: Path) -> int:
    """Number (from 1) of the first line of ``file`` that is not valid UTF-8 (0 if none)."""
    with open(file, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def read_json(
    path: str | os.PathLike,
    *,
    id_column: str = "material_id",
    cif_column: str = "cif",
    limit: int | None = None,
) -> RecordReader:
    """Read a JSON file of columns (``{column: {row_key: value}}``) or of rows (``[{...}]``).

    This is the layout of ``mp_elastic.json`` (pandas ``DataFrame.to_json()``).

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file, or a folder with exactly one JSON file besides ``split.json``.
    id_column : str
        Column of the ids (default ``material_id``); the row key is used without it.
    cif_column : str
        Column of the CIF text (default ``cif``).
    limit : int, optional
        Read only the first ``limit`` rows.

    Returns
    -------
    RecordReader
        Targets: every other column; numbers as ``float`` (the moduli of mp_elastic are
        stored as integers in GPa), tensors as nested lists (``elasticity.elastic_tensor``,
        6×6 Voigt, GPa), text as ``str``. When ``elasticity.K_Voigt`` / ``elasticity.G_Voigt``
        are present, ``log10_K_Voigt`` / ``log10_G_Voigt`` are added: ``log10`` of the
        modulus in GPa, or an :class:`InvalidTarget` when the modulus is not positive.

    Raises
    ------
    DatasetError
        Unreadable JSON, unknown JSON layout or no CIF column.
    """
    path = Path(path)
    file = path
    if path.is_dir():
        candidates = _json_files(path)
        if len(candidates) != 1:
            raise DatasetError(f"{path}: expected one JSON data file, found {[p.name for p in candidates]}")
        file = candidates[0]
    try:
        with open(file, encoding="utf-8-sig") as handle:
            content = json.load(handle)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{file}: cannot read the JSON ({type(error).__name__}: {error})") from error
    table = _json_rows(content, file)
    if not any(cif_column in values for _, values in table):
        raise DatasetError(f"{file}: no {cif_column!r} column of CIF text")
    rows: list[_Row] = []
    seen: dict[str, str] = {}
    for key, values in table[:limit]:
        where = f"row {key!r}"
        raw_id = values.get(id_column)
        row_id = str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else str(key)
        targets = _targets({c: v for c, v in values.items() if c not in (id_column, cif_column)})
        for name, column in _LOG10_TARGETS.items():
            if column in targets:
                targets[name] = _log10(targets[column], column)
        cif = values.get(cif_column)
        if not isinstance(cif, str) or not cif.strip():
            rows.append(_unique(row_id, where, seen, _Row(row_id, targets, problem=f"no CIF text ({where})")))
        else:
            rows.append(_unique(row_id, where, seen, _Row(row_id, targets, text=cif, fmt="cif")))
    return RecordReader(path, "json", rows, [file])


def read_cgcnn(path: str | os.PathLike, *, limit: int | None = None) -> RecordReader:
    """Read a CGCNN folder: ``<id>.cif`` files and ``id_prop.csv`` rows ``id,target``.

    Parameters
    ----------
    path : str or os.PathLike
        The folder. ``id_prop.csv`` has no header; further columns after the target become
        ``target_1``, ``target_2``, ...
    limit : int, optional
        Read only the first ``limit`` rows of ``id_prop.csv``.

    Returns
    -------
    RecordReader
        Targets ``target`` (``float``; an empty field leaves it missing, a row of an id
        alone has an :class:`InvalidTarget`). A row whose CIF file does not exist is
        rejected.

    Raises
    ------
    DatasetError
        The folder has no ``id_prop.csv``.
    """
    return _folder_reader(Path(path), "cgcnn", limit, lambda row_id: f"{row_id}.cif")


def read_alignn(path: str | os.PathLike, *, limit: int | None = None) -> RecordReader:
    """Read an ALIGNN folder: POSCAR files and ``id_prop.csv`` rows ``filename,target``.

    Parameters
    ----------
    path : str or os.PathLike
        The folder. ``id_prop.csv`` has no header. Files are read as POSCAR, except ``*.cif``
        files, read as CIF.
    limit : int, optional
        Read only the first ``limit`` rows of ``id_prop.csv``.

    Returns
    -------
    RecordReader
        Ids are the file names as written in ``id_prop.csv``; targets as in
        :func:`read_cgcnn`. A row whose file does not exist is rejected.

    Raises
    ------
    DatasetError
        The folder has no ``id_prop.csv``.
    """
    return _folder_reader(Path(path), "alignn", limit, lambda row_id: row_id)


def _folder_reader(
    folder: Path, format: str, limit: int | None, file_name: Callable[[str], str]
) -> RecordReader:
    """A streaming reader of ``id_prop.csv``, each row pointing at ``folder / file_name(id)``."""
    if not (folder / ID_PROP).is_file():
        raise DatasetError(f"{folder}: no {ID_PROP}")

    def rows() -> Iterator[_Row]:
        for row_id, targets, where, problem in _id_prop_rows(folder, limit):
            file = folder / file_name(row_id)
            fmt: Literal["cif", "poscar"] = "cif" if file.suffix.lower() == ".cif" else "poscar"
            if problem is None and _leaves_folder(file_name(row_id)):
                problem = f"{file_name(row_id)!r} points outside the folder ({where})"
                yield _Row(row_id, targets, problem=problem)
            elif problem is None and not file.is_file():
                yield _Row(row_id, targets, problem=f"no structure file {file.name} ({where})")
            else:
                yield _Row(row_id, targets, path=file, fmt=fmt, problem=problem)

    def files() -> list[Path]:
        return [folder / ID_PROP] + [row.path for row in rows() if row.path is not None]

    return RecordReader(folder, format, rows, files)


# ----------------------------------------------------------------------------------------
# Helpers


def _parse_row(row: _Row) -> Record | Reject:
    if row.problem is not None:
        return Reject(row.id, row.problem)
    text = row.text
    if text is None:
        assert row.path is not None
        try:
            text = row.path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            return Reject(row.id, f"cannot read {row.path.name}: {error}")
    try:
        structure = parse_structure(text, row.fmt, row.id)
    except StructureError as error:
        return reject(row.id, error)
    return Record(row.id, structure, row.targets)


def reject(row_id: str, error: StructureError) -> Reject:
    """The :class:`Reject` of a row whose structure raised ``error``: ``"Type: message"``."""
    return Reject(row_id, f"{type(error).__name__}: {error}")


def _unique(row_id: str, where: str, seen: dict[str, str], row: _Row) -> _Row:
    """``row``, or a rejected row if ``row_id`` was seen before."""
    if row_id in seen:
        return _Row(row_id, row.targets, problem=f"duplicate id ({where}; first at {seen[row_id]})")
    seen[row_id] = where
    return row


def _targets(values: dict[str, Any]) -> dict[str, Any]:
    """Target values converted: numbers to float, JSON lists parsed; empty values dropped."""
    targets = {}
    for name, value in values.items():
        converted = _convert(value)
        if converted is not None:
            targets[str(name)] = converted
    return targets


def _convert(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        return parsed if isinstance(parsed, list) else text
    return text


def _log10(value: Any, column: str) -> float | InvalidTarget:
    if not isinstance(value, float) or math.isnan(value):
        return InvalidTarget(f"{column} is not a number ({value!r}), no log10")
    if value <= 0:
        return InvalidTarget(f"{column} = {value:g} is not positive, no log10")
    return math.log10(value)


def _json_rows(content: Any, file: Path) -> list[tuple[str, dict[str, Any]]]:
    """``[(row_key, {column: value})]`` of a JSON of columns or of rows."""
    if isinstance(content, dict) and content and all(isinstance(v, dict) for v in content.values()):
        keys: dict[str, None] = {}
        for column in content.values():
            keys.update(dict.fromkeys(column))
        return [(key, {c: column.get(key) for c, column in content.items()}) for key in keys]
    if isinstance(content, list) and all(isinstance(v, dict) for v in content):
        return [(str(i), row) for i, row in enumerate(content)]
    raise DatasetError(
        f"{file}: unknown JSON layout; expected {{column: {{row_key: value}}}} or [{{column: value}}, ...]"
    )


def _json_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if p.name != "split.json")


def _first_field(file: Path) -> str:
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:  # a BOM is not part of an id
            for fields in csv.reader(handle):
                if fields and fields[0].strip():
                    return fields[0].strip()
    except (OSError, UnicodeDecodeError, csv.Error):
        pass
    return ""


def _is_poscar(path: Path) -> bool:
    return path.is_file() and text_format(path) == "poscar"


def _id_prop_rows(folder: Path, limit: int | None) -> Iterator[tuple[str, dict[str, Any], str, str | None]]:
    """``(id, targets, where, problem)`` of each non-empty row of ``folder/id_prop.csv``.

    ``problem`` is ``None`` or the reason to reject the row (a duplicate id). A row of an id
    alone has the target ``target`` as an :class:`InvalidTarget` (``"no target value
    (id_prop.csv line N)"``): datasets reject it for that target, prediction reads its
    structure.
    """
    file = folder / ID_PROP
    if not file.is_file():
        raise DatasetError(f"{folder}: no {ID_PROP}")
    seen: dict[str, str] = {}
    count = 0
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:  # a BOM is not part of an id
            for number, fields in enumerate(csv.reader(handle), start=1):
                if limit is not None and count >= limit:
                    return
                if not fields or not any(f.strip() for f in fields):
                    continue
                count += 1
                where = f"{ID_PROP} line {number}"
                row_id = fields[0].strip() or f"{ID_PROP}:{number}"
                names = [f"target_{i}" if i else "target" for i in range(len(fields) - 1)]
                targets = _targets(dict(zip(names, fields[1:], strict=True)))
                if len(fields) == 1:  # an id alone: no label, but still a structure to predict
                    targets["target"] = InvalidTarget(f"no target value ({where})")
                if row_id in seen:
                    yield row_id, targets, where, f"duplicate id ({where}; first at {seen[row_id]})"
                    continue
                seen[row_id] = where
                yield row_id, targets, where, None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{file}: cannot read ({type(error).__name__}: {error})") from error
