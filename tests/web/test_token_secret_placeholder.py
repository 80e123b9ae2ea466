"""production.ini's token secret is a placeholder anyone who has read the template knows: a
server started with it would accept tokens signed by anyone. The web application refuses to
start with it (one line), as with any unusable setting; an empty secret (bearer tokens off) and
a real one start."""
from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from proseo_odata_web.settings import PLACEHOLDER_TOKEN_SECRETS, SettingsError, WebSettings

ROOT = Path(__file__).resolve().parents[2]


def _production_secret() -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "production.ini", encoding="utf-8")
    return parser["app:main"]["proseo.token.secret"]


def test_production_ini_ships_a_refused_placeholder():
    secret = _production_secret()
    assert secret in PLACEHOLDER_TOKEN_SECRETS
    for value in (secret, f" {secret} "):
        with pytest.raises(SettingsError, match="production.ini's placeholder"):
            WebSettings.from_settings({"proseo.token.secret": value})


@pytest.mark.parametrize("name", ["development.ini", "testing.ini"])
def test_a_secret_shorter_than_hs256s_key_is_refused(name):
    short = "a" * 31
    with pytest.raises(SettingsError, match="proseo.token.secret is 31 bytes: HS256 needs at least 32"):
        WebSettings.from_settings({"proseo.token.secret": short})
    assert WebSettings.from_settings({"proseo.token.secret": short + "a"}).token_secret == short + "a"
    parser = configparser.ConfigParser(interpolation=None)  # the shipped files start
    parser.read(ROOT / name, encoding="utf-8")
    assert WebSettings.from_settings({"proseo.token.secret": parser["app:main"]["proseo.token.secret"]}).token_secret


def test_empty_and_real_secrets_are_taken():
    assert WebSettings.from_settings({"proseo.token.secret": ""}).token_secret == ""
    real = "x7F0pQ2-real-deployment-secret-3fa9c1d2e4b5a6978"
    assert WebSettings.from_settings({"proseo.token.secret": real}).token_secret == real


def test_the_application_refuses_to_start_with_it(tmp_path):
    from proseo_odata_web import main

    settings = {
        "proseo.storage.url": f"sqlite:///{tmp_path / 'proseo.sqlite'}",
        "proseo.archive.path": str(tmp_path / "archive"),
        "proseo.token.secret": _production_secret(),
        "proseo.workers": "0",
    }
    with pytest.raises(SystemExit) as refused:
        main({}, **settings)
    message = str(refused.value.code)
    assert message.startswith("proseo-odata: cannot start: proseo.token.secret is still production.ini's placeholder")
    assert "\n" not in message
