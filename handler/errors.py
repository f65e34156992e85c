"""The package's exception tree.

AutosubsError
 ├── ConfigError            a setting is missing or malformed (CLI: one line, exit 2)
 ├── GcoreError             Gcore answered with an error or could not be reached
 │    └── GcoreUnavailable  transient: timeouts, connection errors, 429/5xx after retries
 └── LedgerError            the ledger cannot be read or written
"""

from __future__ import annotations


class AutosubsError(Exception):
    """autosubs failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(AutosubsError):
    """A setting is missing or malformed."""


class GcoreError(AutosubsError):
    """Gcore answered with an error."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        retryable: bool = False,
        ambiguous: bool = False,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.retryable = retryable
        # A create whose outcome is unknown (timeout, 5xx): it may still land on Gcore.
        self.ambiguous = ambiguous
        super().__init__(message)


class GcoreUnavailable(GcoreError):
    """Gcore could not be reached or kept failing: try again later."""


class LedgerError(AutosubsError):
    """The ledger cannot be read or written."""
