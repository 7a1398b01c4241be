"""Every example in ``docs/*.md`` runs, so the documentation cannot rot.

* A fenced block opened with ```` ```python ```` is executed. The blocks of one file run in
  file order in one shared namespace, so a later block may use the names of an earlier one.
  If a block documents output, what it prints must match: its output comments are the
  ``# `` lines at column 0 right after a line that calls ``print`` (the printing line may
  be indented, e.g. in a loop), up to the next line that is not such a comment.
* A block opened with ```` ```console ```` holds ``$ spacegroup-nn ...`` commands, each
  followed by its expected output. The command runs in-process through
  :func:`spacegroup_nn.cli.main` and its output must match, with doctest's ``ELLIPSIS``
  (``...`` matches anything, e.g. a timing or an elided table) and ``NORMALIZE_WHITESPACE``.
* Adding ``no-run`` to the info string (```` ```python no-run ````) skips a block.

Each file runs in a fresh temporary working directory, so examples may write files there.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from spacegroup_nn.cli import main

DOCS = Path(__file__).parents[1] / "docs"
DOC_FILES = sorted(DOCS.glob("*.md"))

# A fence at the start of a line, its info string, its body, and the closing fence.
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
CHECKED = ("python", "console")
CHECKER = doctest.OutputChecker()
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # line of the opening fence, 1-based
    body: str


def extract_blocks(text: str) -> list[Block]:
    """The ``python`` and ``console`` blocks of a Markdown text, in order, ``no-run`` ones skipped."""
    blocks = []
    for match in FENCE.finditer(text):
        words = match["info"].split()
        if not words or words[0] not in CHECKED or "no-run" in words[1:]:
            continue
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(words[0], line, match["body"]))
    return blocks


def expected_output(body: str) -> str:
    """The output a python block documents in its comments (see the module docstring)."""
    expected, printing, in_output = [], False, False
    for line in body.splitlines():
        if line.startswith("# ") and (in_output or printing):
            expected.append(line[2:])
            in_output, printing = True, False
            continue
        in_output = False
        if "print(" in line:
            printing = True
        elif line.strip() and not line[0].isspace():
            printing = False
    return "".join(f"{line}\n" for line in expected)


def check_output(expected: str, got: str, where: str, source: str) -> None:
    if not CHECKER.check_output(expected, got, OPTIONS):
        example = doctest.Example(source, expected)
        raise AssertionError(f"{where}: {source}\n" + CHECKER.output_difference(example, got, OPTIONS))


def console_commands(body: str) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a console block (commands start with ``$ ``)."""
    pairs: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:].strip(), []))
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"console output before the first '$ ' command: {line!r}")
    return [(command, "\n".join(output).strip() + "\n") for command, output in pairs]


def run_console(block: Block, where: str) -> None:
    for command, expected in console_commands(block.body):
        words = shlex.split(command)
        assert words[0] == "spacegroup-nn", f"{where}: only spacegroup-nn commands are checked"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(words[1:])
        assert code == 0, f"{where}: `{command}` exited with {code}"
        check_output(expected, out.getvalue(), where, f"`{command}`")


def run_python(block: Block, path: Path, namespace: dict) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        # pad with newlines so that tracebacks give line numbers of the Markdown file
        exec(compile("\n" * block.line + block.body, str(path), "exec"), namespace)
    expected = expected_output(block.body)
    if expected:  # blocks that document no output may print freely
        check_output(expected, out.getvalue(), f"{path.name}:{block.line}", "printed output")


def test_extract_blocks_and_console_commands():
    text = (
        "# t\n```python\nx = 1\n```\n```python no-run\nraise\n```\n```bash\nls\n```\n"
        "```console\n$ spacegroup-nn demo\nline 1\n...\n$ spacegroup-nn basis --group 1\n```\n"
    )
    blocks = extract_blocks(text)
    assert [(b.language, b.line) for b in blocks] == [("python", 2), ("console", 11)]
    assert blocks[0].body == "x = 1\n"
    assert console_commands(blocks[1].body) == [
        ("spacegroup-nn demo", "line 1\n...\n"),
        ("spacegroup-nn basis --group 1", "\n"),
    ]


def test_expected_output():
    body = (
        "x = 1\nprint(x)\n# 1\n# comment\n\n# not output\nfor i in range(2):\n"
        "    print(i)  # trailing\n# 0\n# 1\ny = 2\n# not output either\n"
    )
    assert expected_output(body) == "1\ncomment\n0\n1\n"


def test_docs_exist():
    names = {path.name for path in DOC_FILES}
    assert {"api.md", "conventions.md"} <= names
    for path in DOC_FILES:
        if path.name in ("api.md", "conventions.md"):
            assert any(block.language == "python" for block in extract_blocks(path.read_text()))


@pytest.mark.parametrize("path", DOC_FILES, ids=[path.name for path in DOC_FILES])
def test_doc_examples_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{path.stem}"}
    for block in extract_blocks(path.read_text()):
        if block.language == "python":
            run_python(block, path, namespace)
        else:
            run_console(block, f"{path.name}:{block.line}")


# A row of api.md's table of entry points: | `module` | `name`, `name` ... |
API_ROW = re.compile(r"^\| `(?P<module>spacegroup_nn[\w.]*)` \| (?P<names>.*) \|$", re.MULTILINE)


def test_every_entry_point_of_the_api_table_exists():
    rows = API_ROW.findall((DOCS / "api.md").read_text())
    assert len(rows) >= 6
    for module_name, names in rows:
        module = importlib.import_module(module_name)
        missing = [name for name in re.findall(r"`(\w+)`", names) if not hasattr(module, name)]
        assert not missing, f"api.md lists {missing} under {module_name}"
