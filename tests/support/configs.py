"""Writing config folders for tests: the project's own config/ copied, then edited per test."""

from __future__ import annotations

import shutil
from pathlib import Path

PROJECT_CONFIG = Path(__file__).resolve().parent.parent.parent / "config"


def copy_project_config(destination: Path) -> Path:
    target = destination / "config"
    shutil.copytree(PROJECT_CONFIG, target)
    return target


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise AssertionError(f"{old!r} not found in {path}; the test's edit no longer applies")
    path.write_text(text.replace(old, new, 1))
