"""How a configuration mistake is reported: file, key path, what is wrong and what was expected.

Every loader collects problems instead of stopping at the first, so an operator fixes a config in
one pass. The text form is the one `tpo config check` prints:
`config/FILE.toml: key.path: what is wrong (expected ...)`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ConfigProblem:
    file: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration is unusable; carries every problem found."""

    exit_status = 2

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.key, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


def key_path(location: tuple) -> str:
    """Render a pydantic/TOML location as `smpp.binds[0].port`."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
