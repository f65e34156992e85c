"""Signed webhook profiles (handler.tokens), Settings (handler.config) and the fixed interface."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import pytest
from itsdangerous import URLSafeSerializer
from pydantic import ValidationError
from starlette.routing import Route

from handler import languages, tokens
from handler.app import create_app
from handler.cli import _parser
from handler.config import ENV_NAMES, Settings
from handler.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
TOKEN_CHARS = re.compile(r"[A-Za-z0-9_.\-]+")

# DESIGN.md, "Settings come from the environment": variable → (field, value to set, parsed).
DESIGN_ENV: dict[str, tuple[str, str, Any]] = {
    "GCORE_API_KEY": ("gcore_api_key", "29841$c767", "29841$c767"),
    "GCORE_BASE_URL": ("gcore_base_url", "http://sim.test:8081", "http://sim.test:8081"),
    "AUTOSUBS_SECRET_KEYS": ("secret_keys", "new,old", "new,old"),
    "AUTOSUBS_DATABASE_URL": ("database_url", "sqlite:///x/l.db", "sqlite:///x/l.db"),
    "AUTOSUBS_ALLOWED_CIDRS": ("allowed_cidrs", "10.0.0.0/8", "10.0.0.0/8"),
    "AUTOSUBS_TRUSTED_PROXIES": ("trusted_proxies", "10.1.2.3", "10.1.2.3"),
    "AUTOSUBS_SWEEPER": ("sweeper", "off", "off"),
    "AUTOSUBS_SWEEP_INTERVAL": ("sweep_interval", "2.5", 2.5),
    "AUTOSUBS_LOG_FORMAT": ("log_format", "console", "console"),
    "HOST": ("host", "127.0.0.1", "127.0.0.1"),
    "PORT": ("port", "9000", 9000),
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's shell must not leak settings into these tests."""
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith(("AUTOSUBS_", "GCORE_")) or upper in ("HOST", "PORT"):
            monkeypatch.delenv(name)


def _value(setting: Any) -> Any:
    return setting.get_secret_value() if hasattr(setting, "get_secret_value") else setting


# --- tokens --------------------------------------------------------------------------------

PROFILE = tokens.Profile(languages=("fre", "ger"), audio_language="auto")


def test_mint_verify_round_trip() -> None:
    """A minted token is URL-safe and verifies back to the same profile."""
    token = tokens.mint(PROFILE, ["k"])
    assert TOKEN_CHARS.fullmatch(token)
    assert tokens.verify(token, ["k"]) == PROFILE


def test_rotation_old_token_still_verifies() -> None:
    """A token minted with the old key still verifies after AUTOSUBS_SECRET_KEYS=new,old."""
    old_token = tokens.mint(PROFILE, Settings(secret_keys="old").signing_keys)
    rotated = Settings(secret_keys="new,old").signing_keys
    assert tokens.verify(old_token, rotated) == PROFILE


def test_rotation_new_token_uses_the_new_key() -> None:
    """After rotation, new tokens are signed with the new key: they verify under it alone."""
    token = tokens.mint(PROFILE, Settings(secret_keys="new,old").signing_keys)
    assert tokens.verify(token, ["new"]) == PROFILE
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, ["old"])


def _tamper(token: str, where: int) -> str:
    flipped = "A" if token[where] != "A" else "B"
    return token[:where] + flipped + token[where + 1 :]


@pytest.mark.parametrize(
    ("make_token", "keys"),
    [
        pytest.param(lambda: tokens.mint(PROFILE, ["other"]), ["k"], id="unknown-key"),
        pytest.param(lambda: tokens.mint(PROFILE, ["retired"]), ["new", "k"], id="retired-key"),
        pytest.param(lambda: _tamper(tokens.mint(PROFILE, ["k"]), -3), ["k"], id="signature"),
        pytest.param(lambda: _tamper(tokens.mint(PROFILE, ["k"]), 5), ["k"], id="payload"),
        pytest.param(
            lambda: URLSafeSerializer(["k"], salt="other").dumps(PROFILE.model_dump(mode="json")),
            ["k"],
            id="other-salt",
        ),
        pytest.param(
            lambda: URLSafeSerializer(["k"], salt=tokens.SALT).dumps({"v": 1, "languages": ["xx"]}),
            ["k"],
            id="signed-but-unknown-language",
        ),
        pytest.param(
            lambda: URLSafeSerializer(["k"], salt=tokens.SALT).dumps({"v": 2}),
            ["k"],
            id="signed-but-future-version",
        ),
        pytest.param(
            lambda: URLSafeSerializer(["k"], salt=tokens.SALT).dumps({"v": 1, "admin": True}),
            ["k"],
            id="signed-but-extra-field",
        ),
        pytest.param(
            lambda: URLSafeSerializer(["k"], salt=tokens.SALT).dumps(["fre"]),
            ["k"],
            id="signed-but-not-an-object",
        ),
        pytest.param(lambda: "", ["k"], id="empty"),
        pytest.param(lambda: "not-a-token", ["k"], id="garbage"),
        pytest.param(lambda: "a.b", ["k"], id="two-parts"),
        pytest.param(lambda: tokens.mint(PROFILE, ["k"]), [], id="no-keys"),
    ],
)
def test_invalid_tokens(make_token: Any, keys: list[str]) -> None:
    """Anything but an intact token signed by a configured key raises InvalidToken."""
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(make_token(), keys)


def test_mint_without_keys_is_refused() -> None:
    """Minting with no key configured is an error, not an unsigned token."""
    with pytest.raises(ValueError, match="no signing keys"):
        tokens.mint(PROFILE, [])


def test_fingerprint() -> None:
    """Logs get a short, stable fingerprint that does not reveal the token."""
    token = tokens.mint(PROFILE, ["k"])
    fp = tokens.fingerprint(token)
    assert re.fullmatch(r"[0-9a-f]{10}", fp)
    assert fp == tokens.fingerprint(token)
    assert fp != tokens.fingerprint(token + "x")
    assert fp not in token


def test_verified_tokens_agree_with_verify() -> None:
    """The app's verifier gives verify's answer, with the token's fingerprint."""
    token = tokens.mint(PROFILE, ["k"])
    verified = tokens.VerifiedTokens(["k"])
    assert verified.verify(token) == (PROFILE, tokens.fingerprint(token))
    assert verified.verify(token) == (PROFILE, tokens.fingerprint(token))  # remembered
    for bad in (_tamper(token, -3), tokens.mint(PROFILE, ["other"]), "not-a-token", ""):
        with pytest.raises(tokens.InvalidToken):
            verified.verify(bad)


def test_verified_tokens_remember_only_good_tokens() -> None:
    """Tokens that fail are never kept, so a stream of garbage cannot grow the memory."""
    verified = tokens.VerifiedTokens(["k"])
    good = tokens.mint(PROFILE, ["k"])
    for i in range(1000):
        with pytest.raises(tokens.InvalidToken):
            verified.verify(f"{good}{i}")
    assert len(verified) == 0
    verified.verify(good)
    assert len(verified) == 1


def test_verified_tokens_are_bounded() -> None:
    """At most ``size`` tokens are kept; one that was let go simply verifies again."""
    codes = ["fre", "ger", "spa", "ita", "por", "dut", "pol", "swe", "dan", "fin"]
    profiles = [tokens.Profile(languages=(code,)) for code in codes]
    minted = [tokens.mint(p, ["k"]) for p in profiles]
    verified = tokens.VerifiedTokens(["k"], size=4)
    for token, profile in zip(minted * 2, profiles * 2, strict=True):
        assert verified.verify(token).profile == profile
        assert len(verified) <= 4


def test_verified_tokens_follow_their_keys() -> None:
    """What one set of keys verified says nothing under another: after the old key is
    retired, its tokens fail even though a verifier with both keys accepted them."""
    old_token = tokens.mint(PROFILE, Settings(secret_keys="old").signing_keys)
    rotated = tokens.VerifiedTokens(Settings(secret_keys="new,old").signing_keys)
    assert rotated.verify(old_token).profile == PROFILE
    retired = tokens.VerifiedTokens(Settings(secret_keys="new").signing_keys)
    with pytest.raises(tokens.InvalidToken):
        retired.verify(old_token)
    with pytest.raises(ValueError, match="no signing keys"):
        tokens.VerifiedTokens([])


# --- profiles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "languages_", "audio"),
    [
        ({}, (), "auto"),
        ({"languages": ["fre", "ger"]}, ("fre", "ger"), "auto"),
        ({"languages": ["fra", "deu", "zho"]}, ("fre", "ger", "chi"), "auto"),
        ({"languages": [" FRE ", "Ger"]}, ("fre", "ger"), "auto"),
        ({"languages": ["fre", "fra", "fre"]}, ("fre",), "auto"),
        ({"audio_language": "AUTO"}, (), "auto"),
        ({"audio_language": "deu"}, (), "ger"),
        ({"audio_language": "eng"}, (), "eng"),
    ],
    ids=["default", "b-codes", "t-codes", "case-space", "dedup", "auto-case", "audio-t", "audio-b"],
)
def test_profile_normalises(given: dict[str, Any], languages_: tuple[str, ...], audio: str) -> None:
    """Language codes are stored as Gcore's B codes; T codes and any case are accepted."""
    profile = tokens.Profile(**given)
    assert (profile.languages, profile.audio_language) == (languages_, audio)


@pytest.mark.parametrize(
    "given",
    [
        {"languages": ["xx"]},
        {"languages": ["fr"]},
        {"languages": ["auto"]},
        {"languages": ["fre", "klingon"]},
        {"audio_language": "en"},
        {"audio_language": ""},
        {"languages": sorted(languages.BY_CODE)[:21]},
        {"qc": "loud"},
        {"v": 2},
        {"extra": 1},
    ],
    ids=[
        "unknown",
        "two-letter",
        "auto-as-target",
        "one-bad",
        "audio-two-letter",
        "audio-empty",
        "too-many",
        "qc",
        "version",
        "extra-field",
    ],
)
def test_profile_rejects(given: dict[str, Any]) -> None:
    """Unknown codes, too many languages and unknown fields are refused."""
    with pytest.raises(ValidationError):
        tokens.Profile(**given)


def test_profile_error_lists_valid_codes() -> None:
    """The error for a bad code says which codes are valid."""
    with pytest.raises(ValidationError) as caught:
        tokens.Profile(languages=["xx"])
    assert "'xx'" in str(caught.value)
    assert "fre" in str(caught.value)
    assert "yor" in str(caught.value)


# --- settings ------------------------------------------------------------------------------


def test_settings_defaults_match_design() -> None:
    """Every documented default holds when nothing is set."""
    s = Settings()
    assert s.gcore_api_key is None
    assert s.secret_keys is None
    assert s.gcore_base_url == "https://api.gcore.com"
    assert s.database_url == "sqlite:///./autosubs.db"
    assert s.allowed_cidrs == "92.223.112.0/24,92.223.123.0/24"
    assert s.trusted_proxies == ""
    assert s.sweeper == "on"
    assert s.sweep_interval == 15
    assert s.log_format == "json"
    assert (s.host, s.port) == ("0.0.0.0", 8000)
    assert [str(n) for n in s.allowed_networks or []] == ["92.223.112.0/24", "92.223.123.0/24"]
    assert s.forwarded_allow_ips == []


@pytest.mark.parametrize("variable", sorted(DESIGN_ENV))
def test_settings_read_design_variables(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    """Each environment variable of DESIGN.md sets its field."""
    field, raw, parsed = DESIGN_ENV[variable]
    monkeypatch.setenv(variable, raw)
    assert _value(getattr(Settings(), field)) == parsed


def test_env_names_cover_design() -> None:
    """ENV_NAMES names every variable in DESIGN.md's table, for the right field."""
    assert {ENV_NAMES[field] for field, _, _ in DESIGN_ENV.values()} == set(DESIGN_ENV)
    for variable, (field, _, _) in DESIGN_ENV.items():
        assert ENV_NAMES[field] == variable
    assert set(ENV_NAMES) == set(Settings.model_fields)


@pytest.mark.parametrize(
    ("field", "value", "variable", "entry"),
    [
        ("allowed_cidrs", "10.0.0.0/8,bogus", "AUTOSUBS_ALLOWED_CIDRS", "bogus"),
        ("allowed_cidrs", "92.223.112.0/33", "AUTOSUBS_ALLOWED_CIDRS", "92.223.112.0/33"),
        ("allowed_cidrs", "300.1.1.1", "AUTOSUBS_ALLOWED_CIDRS", "300.1.1.1"),
        ("trusted_proxies", "10.0.0.1,localhost", "AUTOSUBS_TRUSTED_PROXIES", "localhost"),
    ],
)
def test_malformed_cidr_raises(field: str, value: str, variable: str, entry: str) -> None:
    """A malformed entry fails at construction, naming the variable and the entry."""
    with pytest.raises(ValidationError) as caught:
        Settings(**{field: value})
    assert variable in str(caught.value)
    assert repr(entry) in str(caught.value)


@pytest.mark.parametrize(
    ("value", "networks"),
    [
        ("*", None),
        (" * ", None),
        ("10.0.0.0/8, 2001:db8::/32", ["10.0.0.0/8", "2001:db8::/32"]),
        ("10.1.2.3", ["10.1.2.3/32"]),
        ("10.1.2.3/24", ["10.1.2.0/24"]),
        ("", []),
    ],
)
def test_allowed_networks(value: str, networks: list[str] | None) -> None:
    """'*' turns the allow-list off; otherwise it is a parsed list of networks."""
    parsed = Settings(allowed_cidrs=value).allowed_networks
    assert (None if parsed is None else [str(n) for n in parsed]) == networks


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("", []), ("10.0.0.1, 10.0.0.2", ["10.0.0.1", "10.0.0.2"]), ("*", ["*"])],
)
def test_forwarded_allow_ips(value: str, allowed: list[str]) -> None:
    """Nobody's X-Forwarded-For is believed unless listed."""
    assert Settings(trusted_proxies=value).forwarded_allow_ips == allowed


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("new,old", ["old", "new"]),
        ("k3, k2 ,k1", ["k1", "k2", "k3"]),
        ("only", ["only"]),
        ("new,,old,", ["old", "new"]),
    ],
)
def test_signing_keys_reversed(value: str, keys: list[str]) -> None:
    """AUTOSUBS_SECRET_KEYS is newest first; itsdangerous gets oldest → newest."""
    assert Settings(secret_keys=value).signing_keys == keys


def test_secrets_hidden_in_repr() -> None:
    """Neither the API key nor the signing keys appear in a printed Settings."""
    s = Settings(secret_keys="s3cr3t-key", gcore_api_key="29841$c767abc")
    assert "s3cr3t-key" not in repr(s)
    assert "c767abc" not in repr(s)
    assert "s3cr3t-key" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("given", "fields", "message"),
    [
        ({}, ("secret_keys",), "AUTOSUBS_SECRET_KEYS is not set"),
        ({"secret_keys": ""}, ("secret_keys",), "AUTOSUBS_SECRET_KEYS is not set"),
        ({"secret_keys": " , "}, ("secret_keys",), "AUTOSUBS_SECRET_KEYS holds no key"),
        ({"secret_keys": "k"}, ("secret_keys", "gcore_api_key"), "GCORE_API_KEY is not set"),
        ({"gcore_api_key": ""}, ("gcore_api_key",), "GCORE_API_KEY is not set"),
    ],
)
def test_require_names_the_variable(
    given: dict[str, str], fields: tuple[str, ...], message: str
) -> None:
    """A missing setting is a ConfigError naming its environment variable."""
    with pytest.raises(ConfigError) as caught:
        Settings(**given).require(*fields)
    assert str(caught.value) == message


def test_require_passes_when_set() -> None:
    """require() is silent when everything asked for is there."""
    Settings(secret_keys="k", gcore_api_key="key").require("secret_keys", "gcore_api_key")


# --- fixed interface: CLI and routes -------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_console_script() -> None:
    """The installed ``autosubs`` command runs handler.cli:main."""
    [script] = [e for e in entry_points(group="console_scripts") if e.name == "autosubs"]
    assert script.value == "handler.cli:main"


def test_cli_subcommands() -> None:
    """The CLI has exactly DESIGN.md's commands."""
    assert set(_subcommands(_parser())) == {
        "serve",
        "sweep",
        "webhook-url",
        "status",
        "migrate",
        "recover",
        "simulator",
        "demo",
    }


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["serve"], {"command": "serve"}),
        (["sweep"], {"command": "sweep", "once": False}),
        (["sweep", "--once"], {"command": "sweep", "once": True}),
        (["status"], {"command": "status", "video": None, "json": False}),
        (["status", "--video", "4428031", "--json"], {"video": 4428031, "json": True}),
        (
            ["webhook-url", "--base-url", "https://subs.test", "--languages", "fre,ger"],
            {"base_url": "https://subs.test", "languages": "fre,ger", "audio_language": "auto"},
        ),
        (
            [
                "webhook-url",
                "--base-url",
                "https://subs.test",
                "--languages",
                "fre",
                "--audio-language",
                "eng",
            ],
            {"audio_language": "eng"},
        ),
        (
            ["simulator", "--port", "8081", "--webhook-url", "http://127.0.0.1:8000/webhooks/x"],
            {"port": 8081, "webhook_url": "http://127.0.0.1:8000/webhooks/x"},
        ),
        (["demo"], {"command": "demo"}),
    ],
)
def test_cli_arguments(argv: list[str], expected: dict[str, Any]) -> None:
    """The documented options parse under their documented names."""
    args = vars(_parser().parse_args(argv))
    assert {k: args[k] for k in expected} == expected


def test_webhook_url_requires_base_url() -> None:
    """webhook-url without --base-url is a usage error."""
    with pytest.raises(SystemExit) as caught:
        _parser().parse_args(["webhook-url", "--languages", "fre"])
    assert caught.value.code == 2


def _app_settings(tmp_path: Path) -> Settings:
    return Settings(secret_keys="k", sweeper="off", database_url=f"sqlite:///{tmp_path}/l.db")


def test_app_routes(tmp_path: Path) -> None:
    """The app serves the webhook route and the three probes, with the documented methods."""
    app = create_app(_app_settings(tmp_path))
    routes = {(r.path, m) for r in app.routes if isinstance(r, Route) for m in r.methods or ()}
    assert {
        ("/webhooks/gcore/{token}", "POST"),
        ("/healthz", "GET"),
        ("/readyz", "GET"),
        ("/metrics", "GET"),
    } <= routes
    assert not any(path == "/webhooks/gcore/{token}" and m == "GET" for path, m in routes)


async def test_probes_answer(tmp_path: Path) -> None:
    """/healthz, /readyz and /metrics answer 200 on a fresh ledger."""
    app = create_app(_app_settings(tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://autosubs.test") as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).json() == {"status": "ready"}
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")


def test_create_app_requires_secret_keys(tmp_path: Path) -> None:
    """The app refuses to start without signing keys."""
    settings = Settings(sweeper="off", database_url=f"sqlite:///{tmp_path}/l.db")
    with pytest.raises(ConfigError, match="AUTOSUBS_SECRET_KEYS"):
        create_app(settings)


# --- CLI behaviour in a subprocess ---------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path) -> Any:
    def run(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path))}
        return subprocess.run(
            [sys.executable, "-m", "handler", *argv],
            env={**clean, **env},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_cli_missing_secret_keys(run: Any) -> None:
    """webhook-url without AUTOSUBS_SECRET_KEYS: exit 2, one line naming the variable."""
    line = _one_error_line(run("webhook-url", "--base-url", "https://subs.test"))
    assert "AUTOSUBS_SECRET_KEYS" in line


def test_cli_bad_language(run: Any) -> None:
    """An unknown language: exit 2, one line listing the valid codes."""
    result = run(
        "webhook-url", "--base-url", "https://subs.test", "--languages", "fre,xx",
        AUTOSUBS_SECRET_KEYS="k",
    )  # fmt: skip
    line = _one_error_line(result)
    assert "'xx'" in line
    assert all(code in line for code in languages.all_codes())


def test_cli_malformed_allowed_cidrs(run: Any) -> None:
    """A malformed AUTOSUBS_ALLOWED_CIDRS: exit 2, one line naming the variable and entry."""
    result = run(
        "webhook-url", "--base-url", "https://subs.test",
        AUTOSUBS_SECRET_KEYS="k", AUTOSUBS_ALLOWED_CIDRS="92.223.112.0/24,bogus",
    )  # fmt: skip
    line = _one_error_line(result)
    assert "AUTOSUBS_ALLOWED_CIDRS" in line
    assert "bogus" in line


def test_cli_webhook_url(run: Any) -> None:
    """webhook-url prints one URL whose token verifies to the requested profile."""
    result = run(
        "webhook-url", "--base-url", "https://subs.test/", "--languages", "fra,ger",
        "--audio-language", "eng", AUTOSUBS_SECRET_KEYS="new,old",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    match = re.fullmatch(r"https://subs\.test/webhooks/gcore/([A-Za-z0-9_.\-]+)", line)
    assert match, line
    profile = tokens.verify(match.group(1), ["new"])
    assert profile == tokens.Profile(languages=("fre", "ger"), audio_language="eng")
