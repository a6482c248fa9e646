"""Every error Clarion raises on purpose derives from ClarionError.

ClarionError
├── ConfigError          the operator YAML is invalid (carries every problem found)
├── NotFound             a recipient, notification or device does not exist
├── RequestRejected      a request is well-formed but cannot be accepted (field + reason)
│   ├── InvalidRequest       a field has the wrong shape or type
│   └── IdempotencyConflict  an Idempotency-Key was reused with a different body
└── RenderError          a template could not be rendered for a delivery (permanent)

Domain code raises these; `appliance.web.problems` alone maps them to HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass


class ClarionError(Exception):
    """Root of the errors Clarion raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in a config file, located for the operator."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(ClarionError):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class NotFound(ClarionError):
    def __init__(self, what: str, key: str) -> None:
        self.what = what
        self.key = key
        super().__init__(f"{what} {key!r} not found")


class RequestRejected(ClarionError):
    """The request names something the loaded config or the database cannot serve."""

    status_code = 422
    title = "Request rejected"

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class InvalidRequest(RequestRejected):
    title = "Invalid request"


class IdempotencyConflict(RequestRejected):
    def __init__(self) -> None:
        super().__init__(
            "Idempotency-Key",
            "this key was already used with a different request body; use a new key for a new request",
        )


class RenderError(ClarionError):
    """A template failed to render; retrying cannot help."""
