"""Errors a Workday poll can end with, each naming what failed and what to do about it."""

from __future__ import annotations


class WorkdayError(Exception):
    """Base class; `request` names the operation, page and window, never a credential."""

    transient = False

    def __init__(self, message: str, *, request: str = "") -> None:
        self.request = request
        self.message = message  # without the request
        super().__init__(f"{message} [{request}]" if request else message)


class WorkdayAuthenticationError(WorkdayError):
    """Workday refused the Integration System User's credentials."""


class WorkdayPermissionError(WorkdayError):
    """The ISU authenticated but lacks a domain permission for the operation."""


class WorkdayValidationError(WorkdayError):
    """Workday rejected the request itself (criteria, paging): a bug or a config error, not transient."""


class WorkdayProcessingError(WorkdayError):
    """Any other SOAP fault Workday raised while processing the request."""


class WorkdayTransientError(WorkdayError):
    """A failure worth retrying: 5xx gateway errors, 429, resets, timeouts, truncated bodies."""

    transient = True

    def __init__(self, message: str, *, request: str = "", retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, request=request)


class WorkdayDataError(WorkdayError):
    """A record Workday sent that cannot be stored faithfully (bad amount, date, missing id)."""


class WorkdayConfigError(WorkdayError):
    """The product's Workday settings are missing or malformed."""
