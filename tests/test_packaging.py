"""The package list in pyproject.toml names every package of the source tree, and the code
passes the formatter and linter configured there."""

from pathlib import Path
import shutil
import subprocess
import sys
import tomllib

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package():
  listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
  found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "xstilts_jax").rglob("__init__.py")}
  assert listed == found | {"xstilts_jax.configs"}
  assert (REPO / "configs" / "__init__.py").is_file()


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "xstilts_jax", "configs", "tests"],
        ["pyink", "--check", "--quiet", "xstilts_jax", "configs", "tests"],
    ],
)
def test_code_passes_the_configured_linter_and_formatter(command):
  tool = shutil.which(command[0], path=str(Path(sys.executable).parent))
  assert tool, f"{command[0]} is not installed beside {sys.executable} (pip install -e '.[test]')"
  done = subprocess.run([tool, *command[1:]], cwd=REPO, capture_output=True, text=True)
  assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
