"""Settings, read from the environment once (in the CLI) and passed down explicitly."""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from handler.errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

GCORE_SENDERS = "92.223.112.0/24,92.223.123.0/24"


def _env(name: str) -> AliasChoices:
    # Accept both the environment name and the field name, so tests can build Settings(...)
    # with readable keyword arguments.
    return AliasChoices(name, name.lower())


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_networks(value: str, variable: str) -> list[IPNetwork]:
    """Parse a comma-separated CIDR list; a malformed entry is an error, never ignored."""
    networks: list[IPNetwork] = []
    for part in _split(value):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ValueError(f"{variable}: {part!r} is not an IP address or CIDR block") from exc
    return networks


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def check_database_url(url: str) -> None:
    """Raise ValueError (naming the variable, never the password) unless the ledger URL is
    ``sqlite:///PATH`` or a libpq ``postgresql://`` / ``postgres://`` URL."""
    name = "AUTOSUBS_DATABASE_URL"
    if url.startswith("sqlite:///"):
        if not url.removeprefix("sqlite:///").strip():
            raise ValueError(f"{name}: sqlite:/// needs a file path, e.g. sqlite:///./autosubs.db")
        return
    if not url.startswith(POSTGRES_SCHEMES):
        raise ValueError(
            f"{name}: expected sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB, "
            f"got {redact_database_url(url)!r}"
        )
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError(f"{name}: malformed PostgreSQL URL ({str(exc).strip()})") from None
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError; libpq's message names no password
        raise ValueError(f"{name}: malformed PostgreSQL URL ({str(exc).strip()})") from None


def redact_database_url(url: str) -> str:
    """The URL with any password replaced by ``***``, for logs and error messages."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    gcore_api_key: SecretStr | None = Field(None, validation_alias=_env("GCORE_API_KEY"))
    gcore_base_url: str = Field("https://api.gcore.com", validation_alias=_env("GCORE_BASE_URL"))
    secret_keys: SecretStr | None = Field(None, validation_alias=_env("AUTOSUBS_SECRET_KEYS"))
    database_url: str = Field(
        "sqlite:///./autosubs.db", validation_alias=_env("AUTOSUBS_DATABASE_URL")
    )
    allowed_cidrs: str = Field(GCORE_SENDERS, validation_alias=_env("AUTOSUBS_ALLOWED_CIDRS"))
    trusted_proxies: str = Field("", validation_alias=_env("AUTOSUBS_TRUSTED_PROXIES"))
    sweeper: Literal["on", "off"] = Field("on", validation_alias=_env("AUTOSUBS_SWEEPER"))
    sweep_interval: float = Field(15.0, gt=0, validation_alias=_env("AUTOSUBS_SWEEP_INTERVAL"))
    log_format: Literal["json", "console"] = Field(
        "json", validation_alias=_env("AUTOSUBS_LOG_FORMAT")
    )
    host: str = Field("0.0.0.0", validation_alias=_env("HOST"))
    port: int = Field(8000, ge=0, le=65535, validation_alias=_env("PORT"))

    # Tuning knobs beyond the fixed interface; the defaults suit production.
    preferred_height: int = Field(480, gt=0, validation_alias=_env("AUTOSUBS_PREFERRED_HEIGHT"))
    poll_floor: float = Field(2.0, gt=0, validation_alias=_env("AUTOSUBS_POLL_FLOOR"))
    poll_ceiling: float = Field(300.0, gt=0, validation_alias=_env("AUTOSUBS_POLL_CEILING"))
    task_timeout: float = Field(6 * 3600.0, gt=0, validation_alias=_env("AUTOSUBS_TASK_TIMEOUT"))
    rendition_timeout: float = Field(
        24 * 3600.0, gt=0, validation_alias=_env("AUTOSUBS_RENDITION_TIMEOUT")
    )
    retry_base: float = Field(30.0, gt=0, validation_alias=_env("AUTOSUBS_RETRY_BASE"))
    max_task_attempts: int = Field(3, ge=1, validation_alias=_env("AUTOSUBS_MAX_TASK_ATTEMPTS"))
    gcore_rps: float = Field(5.0, gt=0, validation_alias=_env("AUTOSUBS_GCORE_RPS"))
    gcore_timeout: float = Field(30.0, gt=0, validation_alias=_env("AUTOSUBS_GCORE_TIMEOUT"))
    gcore_retries: int = Field(4, ge=0, validation_alias=_env("AUTOSUBS_GCORE_RETRIES"))
    lease_seconds: float = Field(300.0, gt=0, validation_alias=_env("AUTOSUBS_LEASE_SECONDS"))
    batch_size: int = Field(50, ge=1, validation_alias=_env("AUTOSUBS_BATCH_SIZE"))
    # Gcore queues at most 100 AI tasks per account and refuses more: stay well below.
    max_active_tasks: int = Field(
        50, ge=1, le=100, validation_alias=_env("AUTOSUBS_MAX_ACTIVE_TASKS")
    )

    @field_validator("allowed_cidrs")
    @classmethod
    def _check_allowed(cls, value: str) -> str:
        if value.strip() != "*":
            parse_networks(value, "AUTOSUBS_ALLOWED_CIDRS")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        if value.strip() != "*":
            parse_networks(value, "AUTOSUBS_TRUSTED_PROXIES")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database(cls, value: str) -> str:
        check_database_url(value)
        return value

    @property
    def allowed_networks(self) -> list[IPNetwork] | None:
        """None means the allow-list is off (``*``)."""
        if self.allowed_cidrs.strip() == "*":
            return None
        return parse_networks(self.allowed_cidrs, "AUTOSUBS_ALLOWED_CIDRS")

    @property
    def forwarded_allow_ips(self) -> list[str]:
        """What uvicorn's proxy-header middleware may believe: nobody unless configured."""
        if self.trusted_proxies.strip() == "*":
            return ["*"]
        return _split(self.trusted_proxies)

    @property
    def signing_keys(self) -> list[str]:
        """Keys oldest → newest, as itsdangerous wants them (the variable is newest first)."""
        if self.secret_keys is None:
            return []
        return list(reversed(_split(self.secret_keys.get_secret_value())))

    @property
    def sqlite_path(self) -> str:
        return self.database_url.removeprefix("sqlite:///")

    @property
    def database_label(self) -> str:
        """The ledger URL, safe to log (password masked)."""
        return redact_database_url(self.database_url)

    def require(self, *fields: str) -> None:
        """Raise ConfigError naming the environment variable of the first missing field."""
        for name in fields:
            value = getattr(self, name)
            if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
                raise ConfigError(f"{ENV_NAMES[name]} is not set")
        if "secret_keys" in fields and not self.signing_keys:
            raise ConfigError("AUTOSUBS_SECRET_KEYS holds no key")


ENV_NAMES: dict[str, str] = {
    name: next(a for a in field.validation_alias.choices if isinstance(a, str) and a.isupper())  # type: ignore[union-attr]
    for name, field in Settings.model_fields.items()
}
