"""Where the MLflow data lives, and its URI with every credential removed for display."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from app.config import Config

_SECRET_QUERY = re.compile(
    r"(?i)\b((?:password|passwd|pwd|token|secret|api_?key|key|auth\w*|sig|signature|credential\w*)=)[^&#\s]*"
)
_USERINFO = re.compile(r"(//)[^/@\s]+@")


def redact_uri(uri: str) -> str:
    """The URI with user, password and secret-looking query values replaced by ``***``."""
    text = str(uri)
    try:
        parts = urlsplit(text)
    except ValueError:
        return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = _SECRET_QUERY.sub(r"\1***", parts.query)
    redacted = urlunsplit(parts._replace(netloc=netloc, query=query))
    # urlunsplit drops the empty authority of "scheme:///path"; keep the user's spelling.
    if text.startswith(f"{parts.scheme}:///") and not redacted.startswith(f"{parts.scheme}:///"):
        redacted = f"{parts.scheme}://" + redacted[len(parts.scheme) + 1 :]
    return redacted


def _scrub(text: str, uri: str) -> str:
    """An error text that may quote the URI, with every credential removed."""
    text = str(text).replace(uri, redact_uri(uri))
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


@dataclass(frozen=True)
class StoreLocation:
    """Where the MLflow data lives: ``kind`` is sqlite, file, http or other (e.g. postgresql)."""

    kind: str
    uri: str
    path: Path | None = None

    @property
    def display(self) -> str:
        return redact_uri(self.uri)


def store_location(config: Config) -> StoreLocation:
    """The tracking URI of the config, with relative file-store paths resolved like data paths."""
    uri = config.tracking_uri
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return StoreLocation("http", uri)
    if scheme == "sqlite":
        raw = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
        raw = raw.split("?", 1)[0]
        if not raw or raw == ":memory:" or raw.startswith("file:"):
            return StoreLocation("other", uri)
        return StoreLocation("sqlite", uri, Path(unquote(raw)))
    if scheme == "file" or scheme == "" or len(scheme) == 1:  # one letter: a Windows drive
        raw = unquote(parts.path) if scheme == "file" else uri
        path = Path(os.path.expanduser(raw))
        if not path.is_absolute():
            path = (config.base_dir / path).resolve()
        return StoreLocation("file", path.as_uri(), path)
    return StoreLocation("other", uri)
