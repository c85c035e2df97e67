"""Login settings: config keys, environment, CLI precedence, and secrets kept out of sight."""

from __future__ import annotations

import json

import pytest

from app.auth import auth_options, resolve_basic_auth
from app.config import load_config
from app.errors import DriftdeckError


def _config(tmp_path, text: str):
    path = tmp_path / "driftdeck.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_server_keys_and_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("DRIFTDECK_BASIC_AUTH", raising=False)
    monkeypatch.delenv("DRIFTDECK_COOKIE_SECRET", raising=False)
    path = _config(tmp_path, '[server]\nbasic_auth = "from-file"\ncookie_secret = "c1"\n')
    config = load_config(path)
    assert (config.basic_auth, config.cookie_secret) == ("from-file", "c1")
    assert "from-file" not in repr(config) and "c1" not in repr(config)
    monkeypatch.setenv("DRIFTDECK_BASIC_AUTH", "from-env")
    assert load_config(path).basic_auth == "from-env"
    assert load_config(path, basic_auth="from-cli").basic_auth == "from-cli"
    assert auth_options(load_config(path, basic_auth="from-cli")) == {
        "basic_auth": "from-cli",
        "cookie_secret": "c1",
    }


def test_no_login_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("DRIFTDECK_BASIC_AUTH", raising=False)
    assert auth_options(load_config(_config(tmp_path, ""))) == {}


@pytest.mark.parametrize("value", ['""', "123", "[1]", "false"])
def test_bad_values_name_the_key_never_the_value(tmp_path, value):
    path = _config(tmp_path, f"[server]\nbasic_auth = {value}\n")
    with pytest.raises(DriftdeckError, match=r"key 'server.basic_auth'") as info:
        load_config(path)
    assert value not in str(info.value) or value == '""'
    assert "\n" not in str(info.value)


def test_secret_in_an_error_is_not_echoed(tmp_path):
    path = _config(tmp_path, '[server]\ncookie_secret = "   "\nbasic_auth = "x"\n')
    with pytest.raises(DriftdeckError, match=r"key 'server.cookie_secret' must be a non-empty"):
        load_config(path)


def test_credentials_file_relative_to_the_config(tmp_path):
    (tmp_path / "users.json").write_text(json.dumps({"alice": "pw"}), encoding="utf-8")
    config = load_config(_config(tmp_path, '[server]\nbasic_auth = "users.json"\n'))
    options = auth_options(config)
    assert options["basic_auth"] == str((tmp_path / "users.json").resolve())
    assert len(options["cookie_secret"]) >= 32  # random per start when not configured


@pytest.mark.parametrize("content", ["not json", "[]", "{}", '{"alice": 3}'])
def test_bad_credentials_file_is_one_line(tmp_path, content):
    (tmp_path / "users.json").write_text(content, encoding="utf-8")
    with pytest.raises(DriftdeckError, match="users.json") as info:
        resolve_basic_auth("users.json", tmp_path)
    assert "\n" not in str(info.value)


def test_a_password_is_not_a_path(tmp_path):
    assert resolve_basic_auth("s3cret/../x" * 50, tmp_path) == "s3cret/../x" * 50
