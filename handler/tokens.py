"""Signed per-webhook profiles: the token in ``/webhooks/gcore/{token}``.

Gcore signs nothing and sends every event of an account to one URL, so the URL carries its
own configuration, signed with itsdangerous: nobody can change the languages (and so the
translation bill) without the secret.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from itsdangerous import BadData, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from handler import languages as langs

SALT = "autosubs.webhook"
QC_PRESETS = ("netflix", "bbc", "vertical", "off")


class Profile(BaseModel):
    """What one webhook URL asks for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    languages: tuple[str, ...] = Field(default=(), max_length=20)
    audio_language: str = langs.AUTO
    qc: Literal["netflix", "bbc", "vertical", "off"] = "netflix"

    @field_validator("languages")
    @classmethod
    def _known_targets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes: list[str] = []
        for code in value:
            b = langs.normalise_code(code)
            if b not in codes:
                codes.append(b)
        return tuple(codes)

    @field_validator("audio_language")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value.strip().lower() == langs.AUTO:
            return langs.AUTO
        return langs.normalise_code(value)


class InvalidToken(Exception):
    """The token does not verify under any configured key, or holds no valid profile."""


def _serializer(keys: list[str]) -> URLSafeSerializer:
    if not keys:
        raise ValueError("no signing keys configured")
    return URLSafeSerializer(keys, salt=SALT)


def mint(profile: Profile, keys: list[str]) -> str:
    """Sign ``profile`` with the newest key (the last of ``keys``, oldest → newest)."""
    return _serializer(keys).dumps(profile.model_dump(mode="json"))


def verify(token: str, keys: list[str]) -> Profile:
    try:
        data = _serializer(keys).loads(token)
        return Profile.model_validate(data)
    except (BadData, ValidationError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc


def fingerprint(token: str) -> str:
    """A short, non-reversible id of a token for logs (the token itself is a secret)."""
    return hashlib.sha256(token.encode()).hexdigest()[:10]
