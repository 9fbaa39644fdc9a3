"""Repository hygiene: the README example runs, CI runs the README commands, tests collect."""
import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
CI = pathlib.Path(__file__).resolve().parents[1] / ".ci" / "run"


def test_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    best = np.array([float(v) for v in re.findall(r"[0-9.]+", printed)])
    assert best.size == 3 and (best > 0.6).all()


def test_ci_runs_the_readme_install_and_test_commands():
    quick_start = re.search(r"## Quick start\n\n```bash\n(.*?)```", README.read_text(), re.S)
    commands = [line.split("#")[0].strip() for line in quick_start.group(1).splitlines()]
    install, _, test = commands
    ci = CI.read_text()
    assert install in ci and re.search(rf"^{re.escape(test)}$", ci, re.M)


def test_test_file_basenames_are_unique():
    """pytest's default import mode cannot collect two test modules with one basename."""
    tests = pathlib.Path(__file__).resolve().parent
    names = [p.name for p in tests.rglob("*.py") if p.name != "__init__.py" and p.name != "conftest.py"]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"rename these test modules: {duplicates}"


def test_no_test_folder_shadows_a_top_level_package():
    """pytest puts tests/ on sys.path, so tests/experiments/ would shadow the experiments package."""
    root = pathlib.Path(__file__).resolve().parents[1]
    packages = {p.parent.name for p in root.glob("*/__init__.py")}
    shadowing = sorted(p.name for p in (root / "tests").iterdir() if p.is_dir() and p.name in packages)
    assert not shadowing, f"rename these test folders: {shadowing}"
