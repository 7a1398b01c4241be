from pathlib import Path

ROOT = Path(__file__).parents[1]


def quick_start_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines()]


def test_quick_start_has_two_commands_and_ci_runs_the_test_command():
    run, test = quick_start_commands()
    assert run.startswith("pip install torch==2.13.0 &&") and "spacegroup-nn" in run
    assert test.startswith("pip install torch==2.13.0 &&") and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci, ".ci/run must run the README's test command verbatim"


def test_readme_example_runs():
    text = (ROOT / "README.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
