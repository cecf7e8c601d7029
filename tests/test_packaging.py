"""What `pip install .` installs: every package and every folder of the page, without a setuptools warning."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _declared() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(config["packages"])


def test_every_folder_of_the_page_and_every_python_package_is_declared() -> None:
    """A folder missing from [tool.setuptools] packages is installed with a warning today and not at all tomorrow
    (setuptools' "Package 'app.static.js.lab' is absent from the packages configuration")."""
    folders = {"app.static." + ".".join(p.relative_to(ROOT / "static").parts)
               for p in (ROOT / "static").rglob("*") if p.is_dir() and p.name != "__pycache__"}
    folders |= {".".join(p.parent.relative_to(ROOT).parts) for top in ("cnn", "app")
                for p in (ROOT / top).rglob("__init__.py")}
    assert folders - _declared() == set()
