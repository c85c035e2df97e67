"""The one error type users see: a single line naming the file, column or key."""


class DriftdeckError(Exception):
    """A problem with the user's input, reported as one line (CLI exit code 2)."""

    def __str__(self) -> str:
        # A message must stay on one line however it was built.
        return " ".join(super().__str__().split())


class DataChanged(DriftdeckError):
    """A file changed, vanished or proved unreadable while a query read it. The views have been
    rebuilt over the files as they are now (an unreadable file is skipped and named in the
    status): compute again."""
