"""Optional login for ``driftdeck serve``: Panel's basic auth, with air-gapped login pages.

``basic_auth`` is either one shared password (any user name) or the path of a JSON file
``{"user": "password", ...}``. The value is a secret: it is never printed, logged or shown
in an error message.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from app.config import Config
from app.errors import DriftdeckError

_STYLE = """
  body { font-family: system-ui, sans-serif; background: #f4f5f7; margin: 0; }
  .wrap { display: flex; min-height: 100vh; align-items: center; justify-content: center; }
  form, .box { background: #fff; padding: 2em; border-radius: 8px; width: 300px;
               box-shadow: 0 2px 12px rgba(0,0,0,.12); }
  h1 { font-size: 1.4em; margin: 0 0 1em; }
  input, button { display: block; width: 100%; box-sizing: border-box; margin: .5em 0;
                  padding: .6em; font-size: 1em; }
  button { background: #1f6feb; color: #fff; border: 0; border-radius: 4px; cursor: pointer; }
  .error { color: #b00020; font-weight: bold; min-height: 1.2em; }
"""

# Panel's own login page loads its logo and favicon from cdn.holoviz.org; these load nothing.
LOGIN_TEMPLATE = (
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Driftdeck — log in</title><style>"""
    + _STYLE
    + """</style></head>
<body><div class="wrap">
<form class="login-form" action=".{{ login_endpoint }}" method="post">
  <h1>Driftdeck</h1>
  <p>Log in to open the dashboard.</p>
  <p class="error errormessage">{{ errormessage|escape }}</p>
  <input name="username" type="text" autocapitalize="off" autocorrect="off"
         placeholder="user name" aria-label="user name">
  <input name="password" type="password" placeholder="password" aria-label="password">
  <button type="submit">Log in</button>
</form></div></body></html>
"""
)

LOGOUT_TEMPLATE = (
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Driftdeck — logged out</title><style>"""
    + _STYLE
    + """</style></head>
<body><div class="wrap"><div class="box"><h1>Driftdeck</h1>
<p>You are logged out.</p><p><a href=".{{ LOGIN_ENDPOINT }}">Log in again</a></p>
</div></div></body></html>
"""
)


def resolve_basic_auth(
    value: str | None, base_dir: Path, key: str = "server.basic_auth"
) -> str | None:
    """The ``basic_auth`` setting as Panel wants it: an existing credentials file (absolute
    path, checked to be a JSON object of user → password) or the password itself."""
    if not value:
        return None
    candidate = Path(os.path.expanduser(value))
    if not candidate.is_absolute():
        candidate = base_dir / candidate
    try:
        is_file = candidate.is_file()
    except OSError:  # a long password is not a path
        is_file = False
    if not is_file:
        return value
    try:
        users = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise DriftdeckError(
            f"{key}: {candidate} is not a JSON file of user names and passwords"
        ) from None
    if (
        not isinstance(users, dict)
        or not users
        or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in users.items())
    ):
        raise DriftdeckError(
            f'{key}: {candidate} must be a JSON object {{"user": "password", ...}}'
        )
    return str(candidate.resolve())


def auth_options(config: Config) -> dict:
    """Keyword arguments for ``pn.serve``: empty when no login is configured."""
    basic_auth = resolve_basic_auth(config.basic_auth, config.base_dir)
    if not basic_auth:
        return {}
    return {
        "basic_auth": basic_auth,
        # Without a configured secret, a fresh one per process: logins end with a restart.
        "cookie_secret": config.cookie_secret or secrets.token_urlsafe(32),
    }


@contextlib.contextmanager
def login_templates() -> Iterator[dict]:
    """Template files for Panel's auth provider (it reads them while the server is built)."""
    with tempfile.TemporaryDirectory(prefix="driftdeck-auth-") as folder:
        login = Path(folder) / "login.html"
        logout = Path(folder) / "logout.html"
        login.write_text(LOGIN_TEMPLATE, encoding="utf-8")
        logout.write_text(LOGOUT_TEMPLATE, encoding="utf-8")
        yield {"login_template": str(login), "logout_template": str(logout)}
