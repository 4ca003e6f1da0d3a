"""Reads the TOML files of a config folder into one immutable `Config`, or reports every problem.

Each file has a model; `FILES` is the one list of them. A file that is optional may be absent and
then takes its model's defaults. After every file has passed its own checks, cross-file checks run
(a plan named in engine.toml must exist in tariffs.toml, and so on).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import ValidationError

from engine.config.problems import ConfigError, ConfigProblem, key_path

DEFAULT_CONFIG_DIR = "config"


@dataclass(frozen=True)
class ConfigFile:
    name: str
    model: type
    required: bool


def _files() -> list[ConfigFile]:
    # Imported here so that each file's model module can import config building blocks freely.
    from engine.config.engine_file import EngineFile

    return [ConfigFile("engine.toml", EngineFile, required=True)] + _extra_files()


_EXTRA_FILES: list[ConfigFile] = []
_CROSS_CHECKS: list[Callable[["Config"], list[ConfigProblem]]] = []


def register_file(name: str, model: type, required: bool = False) -> None:
    """Called by a subsystem's config module (tariffs, causes, ussd, messages) at import time."""
    if not any(f.name == name for f in _EXTRA_FILES):
        _EXTRA_FILES.append(ConfigFile(name, model, required))


def register_cross_check(check: Callable[["Config"], list[ConfigProblem]]) -> None:
    if check not in _CROSS_CHECKS:
        _CROSS_CHECKS.append(check)


def _extra_files() -> list[ConfigFile]:
    import engine.config.subsystems  # noqa: F401  (registers the subsystems' files)

    return list(_EXTRA_FILES)


@dataclass(frozen=True)
class Config:
    """Every config file of one folder, validated. `files` maps a file name to its model object."""

    directory: Path
    files: dict

    def __getitem__(self, name: str):
        return self.files[name]

    @property
    def engine(self):
        return self.files["engine.toml"]

    def label(self, file_name: str) -> str:
        return _label(self.directory, file_name)


def _label(directory: Path, file_name: str) -> str:
    try:
        return str((directory / file_name).relative_to(Path.cwd()))
    except ValueError:
        return str(directory / file_name)


def config_dir_from(arg: str | None) -> Path:
    return Path(arg or os.environ.get("TPO_CONFIG") or DEFAULT_CONFIG_DIR)


def load_config(directory: str | Path, environ: dict | None = None) -> Config:
    """Load and validate the whole folder. Raises ConfigError listing every problem found."""
    directory = Path(directory)
    environ = dict(os.environ if environ is None else environ)
    problems: list[ConfigProblem] = []
    loaded: dict = {}
    if not directory.is_dir():
        raise ConfigError([ConfigProblem(str(directory), "", "no such config folder (expected a folder of TOML files)")])
    for spec in _files():
        label = _label(directory, spec.name)
        path = directory / spec.name
        if not path.exists():
            if spec.required:
                problems.append(ConfigProblem(label, "", "file is missing (expected it in the config folder)"))
                continue
            data: dict = {}
        else:
            try:
                with path.open("rb") as handle:
                    data = tomllib.load(handle)
            except tomllib.TOMLDecodeError as error:
                problems.append(ConfigProblem(label, "", f"not valid TOML: {error}"))
                continue
        try:
            model = spec.model.model_validate(data, context={"environ": environ, "directory": directory})
        except ValidationError as error:
            problems.extend(problems_from_validation(label, error))
            continue
        loaded[spec.name] = model
    if problems:
        raise ConfigError(problems)
    config = Config(directory=directory, files=loaded)
    config = _apply_environment(config, environ)
    for check in _CROSS_CHECKS:
        problems.extend(check(config))
    if problems:
        raise ConfigError(problems)
    return config


def _apply_environment(config: Config, environ: dict) -> Config:
    url = environ.get("TPO_DATABASE_URL")
    if not url:
        return config
    engine = config.engine
    database = engine.database.model_copy(update={"url": url})
    files = dict(config.files)
    files["engine.toml"] = engine.model_copy(update={"database": database})
    return Config(directory=config.directory, files=files)


def problems_from_validation(label: str, error: ValidationError) -> list[ConfigProblem]:
    problems = []
    for detail in error.errors(include_url=False):
        location = tuple(part for part in detail["loc"] if not _is_union_tag(part))
        problems.append(ConfigProblem(label, key_path(location), _message(detail)))
    return problems


def _is_union_tag(part) -> bool:
    # pydantic adds the union member's name ("function-before[...]") to locations; operators never
    # wrote those, so they are dropped from the key path.
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _message(detail: dict) -> str:
    kind = detail["type"]
    message = detail["msg"]
    if kind == "missing":
        return "missing (expected a value here)"
    if kind == "extra_forbidden":
        return "unknown key (expected only the keys documented in docs/operations.md)"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind == "assertion_error":
        return message.removeprefix("Assertion failed, ")
    shown = repr(detail.get("input"))
    if len(shown) > 60:
        shown = shown[:57] + "..."
    expected = message.removeprefix("Input should be ").removeprefix("Value should be ")
    return f"{shown} is not valid (expected {expected[0].lower() + expected[1:] if expected else 'another value'})"
