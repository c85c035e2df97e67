"""The one error type users see: a single line naming the file, column or key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class DriftdeckError(Exception):
    """A problem with the user's input, reported as one line (CLI exit code 2)."""

    def __str__(self) -> str:
        # A message must stay on one line however it was built.
        return " ".join(super().__str__().split())


class DataChanged(DriftdeckError):
    """A file changed, vanished or proved unreadable while a query read it. The views have been
    rebuilt over the files as they are now (an unreadable file is skipped and named in the
    status): compute again."""


ATTEMPTS = 3
"""How often a computation is run when files change under it (a logger rewriting a file)."""


def again_if_files_change(compute: Callable[[], T]) -> T:
    """``compute()``, run again while a file changes or proves unreadable under it (up to
    ``ATTEMPTS`` runs in all): by then ``Sources`` reads the files as they are."""
    for _ in range(ATTEMPTS - 1):
        try:
            return compute()
        except DataChanged:
            continue
    return compute()
