"""Where the suite's own files are: in a source tree, or in an installed package.

From a source tree (a checkout, or `pip install -e`) the C sources are
native/ and the report templates reports/templates/ beside bench/.  A
`pip install .` ships them inside the package as bench/csrc/ and
bench/templates/ (pyproject.toml), and the build cache moves out of the
installation into the user's cache directory.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent


def in_source_tree() -> bool:
    return (ROOT / "pyproject.toml").is_file() and (ROOT / "native" / "api.c").is_file()


def native_dir() -> Path:
    return ROOT / "native" if in_source_tree() else PACKAGE / "csrc"


def template_dir() -> Path:
    return ROOT / "reports" / "templates" if in_source_tree() else PACKAGE / "templates"


def default_build_dir() -> Path:
    if in_source_tree():
        return ROOT / "build"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "rmapbench" / "build"
