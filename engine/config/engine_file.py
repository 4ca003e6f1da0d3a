"""`config/engine.toml`: who the operator is, where its data lives, how it reaches the host network."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

import phonenumbers

from engine.config.model import Code, FrozenModel, TimeZoneName

CURRENCY_MINOR_UNITS = {"GBP": 2, "EUR": 2, "USD": 2, "XOF": 0, "XAF": 0, "KES": 2, "NGN": 2, "JPY": 0, "TND": 3, "CAD": 2}


def _secret_from(value: SecretStr | None, env_name: str | None, info: ValidationInfo, what: str) -> SecretStr | None:
    """A secret is either written in the file or, better, named by an environment variable."""
    if env_name:
        environ = (info.context or {}).get("environ", os.environ)
        if env_name not in environ:
            raise ValueError(f"environment variable {env_name} is not set (expected it to hold the {what})")
        return SecretStr(environ[env_name])
    return value


class OperatorSection(FrozenModel):
    name: str = Field(min_length=1, max_length=40)
    time_zone: TimeZoneName = "UTC"
    currency: str = Field(default="GBP", pattern=r"^[A-Z]{3}$")
    minor_unit: int | None = Field(default=None, ge=0, le=4)
    default_region: str = "GB"
    short_code: str = Field(pattern=r"^[0-9]{3,8}$")
    help_url: str = ""
    care_number: str = ""
    operator_numbers: tuple[str, ...] = ()

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r} (expected an ISO 3166 code like \"GB\" or \"FR\")")
        return value

    @model_validator(mode="after")
    def _minor_unit_known(self):
        if self.minor_unit is None and self.currency not in CURRENCY_MINOR_UNITS:
            raise ValueError(
                f"minor_unit: not set and currency {self.currency} is not one the engine knows "
                "(expected minor_unit = 0, 2 or 3)"
            )
        return self

    @property
    def currency_minor_unit(self) -> int:
        return self.minor_unit if self.minor_unit is not None else CURRENCY_MINOR_UNITS[self.currency]


class DatabaseSection(FrozenModel):
    url: str = "sqlite:///var/tpo.db"
    password: SecretStr | None = None
    password_env: str | None = None
    busy_timeout_ms: int = Field(default=10_000, ge=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "not a database URL (expected e.g. \"sqlite:///var/tpo.db\" or \"postgresql://host/db\")"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {url.get_backend_name()!r} (expected sqlite or postgresql)")
        return value

    @model_validator(mode="after")
    def _secret(self, info: ValidationInfo):
        secret = _secret_from(self.password, self.password_env, info, "database password")
        object.__setattr__(self, "password", secret)
        return self


class SmppBind(FrozenModel):
    name: Code
    host: str = "127.0.0.1"
    port: int = Field(default=2775, ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    password: SecretStr | None = None
    password_env: str | None = None
    system_type: str = Field(default="", max_length=12)
    mode: Literal["transceiver", "transmitter_receiver"] = "transceiver"
    window: int = Field(default=64, ge=1, le=1024)
    throughput_per_second: int = Field(default=100, ge=1)
    enquire_link_seconds: float = Field(default=30, gt=0)
    response_timeout_seconds: float = Field(default=10, gt=0)
    reconnect_min_seconds: float = Field(default=1, gt=0)
    reconnect_max_seconds: float = Field(default=60, gt=0)

    @model_validator(mode="after")
    def _secret(self, info: ValidationInfo):
        secret = _secret_from(self.password, self.password_env, info, "SMPP password")
        if secret is None:
            raise ValueError("password: missing (expected password or password_env)")
        if len(secret.get_secret_value()) > 8:
            raise ValueError("password: longer than 8 characters (expected at most 8, SMPP 3.4's limit)")
        object.__setattr__(self, "password", secret)
        return self


class SmppSection(FrozenModel):
    enabled: bool = True
    binds: tuple[SmppBind, ...] = ()
    default_data_coding: Literal["gsm", "ucs2-only"] = "gsm"
    long_messages: Literal["udh", "sar", "payload"] = "udh"
    retry_first_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    retry_max_attempts: int = Field(default=10, ge=1)
    throttle_pause_seconds: float = Field(default=1.0, ge=0)
    dedupe_window_seconds: int = Field(default=600, ge=1)
    reassembly_timeout_seconds: int = Field(default=120, ge=1)
    incomplete_messages: Literal["process", "discard"] = "process"
    # A part another node claimed this long ago and never answered for is queued again (the node
    # died): far above a live node's holding time (response timeout, throughput cap).
    claim_lease_seconds: int = Field(default=600, ge=60)

    @model_validator(mode="after")
    def _unique_names(self):
        names = [bind.name for bind in self.binds]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"binds: names {', '.join(duplicated)} repeat (expected each bind's name once)")
        if self.enabled and not self.binds:
            raise ValueError("binds: none configured (expected at least one [[smpp.binds]] when enabled)")
        return self


class SchedulerSection(FrozenModel):
    enabled: bool = True
    misfire_grace_seconds: int = Field(default=3600, ge=1)


class FoldersSection(FrozenModel):
    """Folders shared with the host network; relative paths are relative to the working folder."""

    provisioning_out: str = "var/hostnet/provisioning-out"
    acknowledgements_in: str = "var/hostnet/acks-in"
    events_in: str = "var/hostnet/events-in"
    statements_in: str = "var/hostnet/statements-in"
    usage_in: str = "var/hostnet/usage-in"
    processed: str = "var/hostnet/processed"
    rejected: str = "var/hostnet/rejected"
    poll_seconds: float = Field(default=2, gt=0)


class HttpSection(FrozenModel):
    enabled: bool = True
    interface: str = "127.0.0.1"
    port: int = Field(default=9467, ge=0, le=65535)


class LoggingSection(FrozenModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class EngineFile(FrozenModel):
    operator: OperatorSection
    database: DatabaseSection = DatabaseSection()
    smpp: SmppSection = SmppSection(enabled=False)
    scheduler: SchedulerSection = SchedulerSection()
    folders: FoldersSection = FoldersSection()
    http: HttpSection = HttpSection()
    logging: LoggingSection = LoggingSection()
    node_name: Code = "node-1"
