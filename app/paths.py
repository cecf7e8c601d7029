"""Where the page templates and static files are, found from this file, never from the working directory.

In a source checkout they are the top-level templates/ and static/ folders; in an installed package setuptools puts
them inside it, as app/templates and app/static (see package-dir in pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"cannot find the {name}/ folder beside {_PACKAGE}: the installation is incomplete")


TEMPLATES_DIR = _find("templates")
STATIC_DIR = _find("static")
TEMPLATES = Jinja2Templates(directory=str(TEMPLATES_DIR))
