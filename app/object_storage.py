"""Parquet on object storage: ``s3://bucket/prefix/`` (and ``gs://``, ``az://`` where fsspec has a
filesystem for them) read in place by DuckDB through a registered fsspec filesystem.

DuckDB's own httpfs extension would have to be downloaded at run time; fsspec's ``s3fs`` is a
package like any other. Credentials come from the standard environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for S3-compatible stores, profiles) or from the
``[storage]`` keys, and never appear in a message: errors name the path and the reason only.
A file's fingerprint is its object metadata (size, last-modified, ETag).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.errors import DriftdeckError

SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")
_lock = threading.Lock()
_filesystems: dict[tuple, Any] = {}


def is_url(location: str | None) -> bool:
    """Whether a data location is on object storage (``s3://…``) rather than a local path."""
    return bool(location) and location.split("://", 1)[0].lower() in SCHEMES and "://" in location


def scheme(location: str) -> str:
    return location.split("://", 1)[0].lower()


@dataclass(frozen=True)
class ObjectState:
    """What identifies an object's content: URL, size, modification time and ETag."""

    path: str
    size: int
    mtime_ns: int
    etag: str = ""


def storage_options(settings: dict[str, Any], protocol: str) -> dict[str, Any]:
    """fsspec options from ``[storage]`` and the environment (S3: an endpoint for compatible
    stores; the rest botocore finds by itself: keys, session token, profile, region)."""
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        endpoint = settings.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL")
        client: dict[str, Any] = {}
        if endpoint:
            client["endpoint_url"] = endpoint
        if settings.get("region"):
            client["region_name"] = settings["region"]
        if client:
            options["client_kwargs"] = client
        for key, option in (("key", "key"), ("secret", "secret"), ("profile", "profile")):
            if settings.get(key):
                options[option] = settings[key]
        if settings.get("anonymous"):
            options["anon"] = True
        # Listings are cached so that opening a listed object needs no request of its own;
        # ``list_objects`` drops the cache first, so every refresh sees the objects as they are.
    return options


def filesystem(location: str, settings: dict[str, Any]):
    """The fsspec filesystem for a URL's scheme (one per scheme and settings in this process)."""
    import fsspec

    protocol = scheme(location)
    options = storage_options(settings, protocol)
    key = (protocol, repr(sorted(options.items())))
    with _lock:
        if key not in _filesystems:
            try:
                cls = _listed(fsspec.get_filesystem_class(protocol))
                _filesystems[key] = cls(skip_instance_cache=True, **options)
            except (ImportError, ValueError) as exc:
                raise DriftdeckError(
                    f"{location}: no filesystem for {protocol}:// ({_first_line(exc)}); "
                    "install s3fs (or gcsfs, adlfs)"
                ) from None
        return _filesystems[key]


def _listed(cls: type) -> type:
    """``cls`` answering ``info`` for the objects it listed from that listing: DuckDB opens
    every file for every query, and a metadata request per open would cost more than the read.
    ``list_objects`` renews what it knows on each refresh."""

    class Listed(cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.listed: dict[str, dict] = {}

        def _known(self, path: str) -> dict | None:
            return self.listed.get(self._strip_protocol(path))

        def info(self, path, *args, **kwargs):
            return self._known(path) or super().info(path, *args, **kwargs)

        async def _info(self, path, *args, **kwargs):
            return self._known(path) or await super()._info(path, *args, **kwargs)

    Listed.__name__ = Listed.__qualname__ = f"Listed{cls.__name__}"
    return Listed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_failure(location: str, exc: BaseException) -> str:
    """One line naming the location and what went wrong, with no credential in it."""
    name = type(exc).__name__
    text = _first_line(exc)
    if isinstance(exc, PermissionError) or "AccessDenied" in text or "InvalidAccessKeyId" in text:
        why = "access denied (check the credentials: AWS_ACCESS_KEY_ID / [storage] key)"
    elif "SignatureDoesNotMatch" in text:
        why = "the secret key does not match (check AWS_SECRET_ACCESS_KEY / [storage] secret)"
    elif "NoSuchBucket" in text or isinstance(exc, FileNotFoundError):
        why = "no such bucket or object"
    elif (
        "Could not connect" in text or "Connect" in name or isinstance(exc, OSError | TimeoutError)
    ):
        why = f"the endpoint cannot be reached ({name})"
    else:
        why = f"{name}: {text}"
    return f"{location}: {why}"


def _mtime_ns(info: dict) -> int:
    stamp = info.get("LastModified") or info.get("mtime") or info.get("updated")
    if isinstance(stamp, datetime):
        return int(stamp.timestamp() * 1e9)
    if isinstance(stamp, int | float):
        return int(stamp * 1e9)
    return 0


def _state(fs, path: str, info: dict, protocol: str) -> ObjectState:
    url = path if "://" in path else f"{protocol}://{path}"
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    return ObjectState(url, int(info.get("size") or 0), _mtime_ns(info), etag)


def list_objects(location: str, settings: dict[str, Any]) -> list[ObjectState]:
    """The parquet objects at a URL: one object, a prefix (every ``*.parquet`` below it,
    hive-partitioned folders included) or a glob; raises ``DriftdeckError`` in one line."""
    fs = filesystem(location, settings)
    protocol = scheme(location)
    try:
        fs.invalidate_cache()
        if any(ch in location for ch in "*?["):
            found = fs.glob(location, detail=True)
        elif fs.isdir(location):
            found = fs.find(location, detail=True)
            found = {p: i for p, i in found.items() if p.endswith(".parquet")}
        elif fs.isfile(location):
            found = {location: fs.info(location)}
        else:
            return []
    except Exception as exc:  # botocore, aiohttp and fsspec raise many types
        raise DriftdeckError(describe_failure(location, exc)) from None
    files = {p: i for p, i in sorted(found.items()) if i.get("type", "file") == "file"}
    fs.listed.update({fs._strip_protocol(p): i for p, i in files.items()})
    return [_state(fs, path, info, protocol) for path, info in files.items()]


def current(state: ObjectState, settings: dict[str, Any]) -> ObjectState | None:
    """The object at ``state.path`` as it is now (None when it is gone or unreachable)."""
    fs = filesystem(state.path, settings)
    try:
        fs.invalidate_cache(state.path)
        fs.listed.pop(fs._strip_protocol(state.path), None)
        info = fs.info(state.path)
    except Exception:
        return None
    return _state(fs, state.path, info, scheme(state.path))


def open_file(path: str, settings: dict[str, Any]):
    """A file object for pyarrow (the footer check)."""
    return filesystem(path, settings).open(path, "rb")


def register(connection, location: str, settings: dict[str, Any], done: set[int]) -> None:
    """Let DuckDB read this URL's scheme through fsspec (once per filesystem and connection;
    ``done`` holds the filesystems already registered on it)."""
    fs = filesystem(location, settings)
    if id(fs) not in done:
        connection.register_filesystem(fs)
        # Footers and column chunks are kept between queries (every metric is a query over
        # every file) without asking the store before each read; ``forget_reads`` drops them
        # whenever a refresh finds an object changed.
        connection.execute("SET parquet_metadata_cache = true")
        connection.execute("SET validate_external_file_cache = 'NO_VALIDATION'")
        done.add(id(fs))


def forget_reads(connection) -> None:
    """Drop what DuckDB cached of remote files (an object was rewritten under its name)."""
    connection.execute("SET enable_external_file_cache = false")
    connection.execute("SET enable_external_file_cache = true")
