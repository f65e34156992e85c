"""Signed per-webhook profiles: the token in ``/webhooks/gcore/{token}``.

Gcore signs nothing and sends every event of an account to one URL, so the URL carries its
own configuration, signed with itsdangerous: nobody can change the languages (and so the
translation bill) without the secret.
"""

from __future__ import annotations

import hashlib
from typing import Literal, NamedTuple

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


class Verified(NamedTuple):
    profile: Profile
    fingerprint: str


class VerifiedTokens:
    """``verify`` for one set of keys, remembering the tokens that verified.

    The same few tokens come back with every webhook, and verifying one (an HMAC and a
    pydantic validation) gives the same answer for as long as the keys stay the same: the
    app keeps one of these, as its keys are fixed for its lifetime. Only tokens that verified
    are kept, so garbage cannot grow it, and at most ``size`` of them (oldest out first); a
    token that is not kept is simply verified again.
    """

    def __init__(self, keys: list[str], size: int = 256) -> None:
        _serializer(keys)  # no keys: fail now, not at the first webhook
        self._keys = list(keys)
        self._size = size
        self._verified: dict[str, Verified] = {}

    def verify(self, token: str) -> Verified:
        known = self._verified.get(token)
        if known is not None:
            return known
        verified = Verified(verify(token, self._keys), fingerprint(token))
        if len(self._verified) >= self._size:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = verified
        return verified

    def __len__(self) -> int:
        return len(self._verified)
