"""Running the real `tpo` console script, the way an operator does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TPO = Path(sys.executable).parent / "tpo"


def run_tpo(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120, input_text: str | None = None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TPO_")}
    environment.update(env or {})
    return subprocess.run(
        [str(TPO), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout, input=input_text
    )
