"""The on-disk store of computed results, shared by every Driftdeck process on the same data.

A result is kept under a key that names everything it depends on: the data version (every file's
path, size and modification time), the column settings, the window, and a fingerprint of the
code that computed it. So a second ``monitor`` run, a server restart or a second server reuses
what was computed, and any change of files, config or code computes afresh: the store is an
accelerator, never an approximation (docs/architecture.md, "The store").

Safety: each result is one file, written under a temporary name and renamed, so a process
killed mid-write leaves nothing that reads as valid, and several processes can share one store.
A store written by another Driftdeck version, or a damaged entry, is dropped and rebuilt with one
line in the status. Deleting the store is always safe.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import app
from app.single_flight import MISSING

FORMAT = 1
"""Bumped when the layout of the store changes."""
STAMP_NAME = "FORMAT"
STALE_TEMP_SECONDS = 3600.0
"""Temporary files older than this are left by a killed writer and are removed."""
UNUSED_SECONDS = 14 * 86400.0
"""Results nobody read for this long (old data versions, windows) are removed."""
FILE_SUFFIXES = (".parquet", ".f64")
"""Kinds of results kept as files of their own (``Store.file_entry``): read in place, not
unpickled (value counts read by Arrow, sorted values mapped into memory)."""


@cache
def code_fingerprint() -> str:
    """A hash of the engine's code and queries: results of other code are never reused."""
    digest = hashlib.sha256()
    for package, pattern in (("app", "*.py"), ("queries", "*.sql")):
        folder = resources.files(package)
        for name in sorted(p.name for p in folder.iterdir() if Path(p.name).match(pattern)):
            digest.update(name.encode())
            digest.update(folder.joinpath(name).read_bytes())
    return digest.hexdigest()[:16]


class Store:
    """Results by (name, key) in a folder; every method is safe from many threads and processes."""

    def __init__(self, root: Path):
        self.root = Path(root)
        # Results live in a folder of their own: the root also keeps other state (the alert
        # state of notifications), which a rebuild must not lose.
        self.results = self.root / "results"
        self.status: list[dict] = []
        """One line per event a user should know of (rebuilt, damaged, read-only)."""
        self.counts: Counter[str] = Counter()
        """Results reused from and written to the store in this process."""
        self.writable = True
        self._lock = threading.Lock()
        self._open()

    # -- the folder ---------------------------------------------------------------------------
    def _stamp(self) -> str:
        return f"driftdeck store {FORMAT} {app.__version__}\n"

    def _open(self) -> None:
        stamp_file = self.results / STAMP_NAME
        try:
            found = stamp_file.read_text(encoding="utf-8") if stamp_file.is_file() else None
        except (OSError, UnicodeDecodeError):
            found = ""
        if found is not None and found != self._stamp():
            why = "another Driftdeck version" if found.startswith("driftdeck store") else "damaged"
            self._say(False, f"store at {self.root} was written by {why}: rebuilt")
            self._clear()
            found = None
        if found is None:
            try:
                self.results.mkdir(parents=True, exist_ok=True)
                self._write_atomic(stamp_file, self._stamp().encode())
            except OSError as exc:
                self._read_only(exc)
                return
        self._sweep()

    def _clear(self) -> None:
        """Move the old contents aside and delete them (readers of the old files keep theirs)."""
        if not self.results.exists():
            return
        aside = self.root / f"results.old-{uuid.uuid4().hex[:8]}"
        try:
            os.replace(self.results, aside)
        except OSError:
            aside = self.results
        shutil.rmtree(aside, ignore_errors=True)

    def _sweep(self) -> None:
        """Remove temporary files that a killed writer left behind, and results unread for long
        (each read renews a result's modification time)."""
        now = time.time()
        for pattern, age in (
            ("*/*.tmp", STALE_TEMP_SECONDS),
            *((f"*/*{suffix}", UNUSED_SECONDS) for suffix in (".pkl", *FILE_SUFFIXES)),
        ):
            for path in self.results.glob(pattern):
                try:
                    if now - path.stat().st_mtime > age:
                        path.unlink()
                except OSError:
                    pass

    def _read_only(self, exc: OSError) -> None:
        if self.writable:
            self.writable = False
            self._say(
                False,
                f"store at {self.root} is not writable ({exc.strerror}): results are kept in memory only",
            )

    def _say(self, ok: bool, message: str) -> None:
        with self._lock:
            self.status.append({"component": "store", "ok": ok, "message": message})

    # -- results ------------------------------------------------------------------------------
    def _path(self, name: str, key: Any) -> tuple[Path, str]:
        text = repr((code_fingerprint(), name, key))
        digest = hashlib.sha256(text.encode()).hexdigest()
        return self.results / name / f"{digest}.pkl", text

    def get(self, name: str, key: Any) -> Any:
        """The stored result, or ``MISSING``; a damaged entry is removed and said."""
        path, text = self._path(name, key)
        try:
            data = path.read_bytes()
        except OSError:
            return MISSING
        try:
            stored_key, value = pickle.loads(data)  # noqa: S301 - the store is the user's own folder
        except Exception:  # a truncated or foreign file: never read as valid
            self._say(False, f"store entry {path.name} was damaged: removed and computed again")
            path.unlink(missing_ok=True)
            return MISSING
        if stored_key != text:  # a hash collision, in theory
            return MISSING
        self._reused(path)
        return value

    def _reused(self, path: Path) -> None:
        """Count a kept result read again and mark it as still in use (not swept)."""
        self.counts["reused"] += 1
        try:
            os.utime(path)
        except OSError:
            pass

    def put(self, name: str, key: Any, value: Any) -> None:
        """Keep a result; a store that cannot be written is said once and then left alone."""
        if not self.writable:
            return
        path, text = self._path(name, key)
        try:
            data = pickle.dumps((text, value), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # something unpicklable: keep it in memory only
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write_atomic(path, data)
        except OSError as exc:
            self._read_only(exc)
            return
        self.counts["written"] += 1

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        Store._write_with(path, lambda handle: handle.write(data))

    @staticmethod
    def _write_with(path: Path, write: Callable[[BinaryIO], Any]) -> None:
        temp = path.with_name(f"{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(temp, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        finally:
            if temp.exists():
                temp.unlink(missing_ok=True)

    # -- results kept as files of their own -----------------------------------------------------
    def file_entry(self, name: str, key: Any, suffix: str) -> Path | None:
        """The file holding the result ``(name, key)`` (a ``FILE_SUFFIXES`` kind), or None.

        Such a result is read in place by its reader (Arrow, a numpy memory map); a file that
        reader finds damaged is given to ``drop_file_entry``. Written by ``put_file_entry``
        under a temporary name and renamed, as every result."""
        path = self._entry_path(name, key, suffix)
        if not path.is_file():
            return None
        self._reused(path)
        return path

    def put_file_entry(
        self, name: str, key: Any, suffix: str, write: Callable[[BinaryIO], Any]
    ) -> Path | None:
        """Keep a result that ``write(handle)`` writes as a file; its path, or None when the
        store cannot be written (the caller then keeps the result elsewhere)."""
        if not self.writable:
            return None
        path = self._entry_path(name, key, suffix)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write_with(path, write)
        except OSError as exc:
            self._read_only(exc)
            return None
        self.counts["written"] += 1
        return path

    def drop_file_entry(self, path: Path) -> None:
        """A file entry its reader found damaged: removed (computed again), and said."""
        self._say(False, f"store entry {path.name} was damaged: removed and computed again")
        path.unlink(missing_ok=True)

    def _entry_path(self, name: str, key: Any, suffix: str) -> Path:
        if suffix not in FILE_SUFFIXES:
            raise ValueError(f"{suffix}: not a kind of file entry ({', '.join(FILE_SUFFIXES)})")
        path, _text = self._path(name, key)
        return path.with_suffix(suffix)

    def summary(self) -> dict:
        """The status line of the store: where it is and what this process took from it."""
        reused, written = self.counts["reused"], self.counts["written"]
        return {
            "component": "store",
            "ok": True,
            "message": f"{self.root}: {reused} result{'s' if reused != 1 else ''} reused, "
            f"{written} computed and kept",
            "path": str(self.root),
        }
