"""Domain errors: the web adapter maps each to a status code in one table."""


class DomainError(Exception):
    """Base of every error the core raises on purpose."""


class InvalidParameter(DomainError):
    """A parameter has a value the core cannot use; `choices` lists the valid ones when known."""

    def __init__(self, message: str, choices: list[str] | None = None):
        super().__init__(message)
        self.choices = choices


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Unauthorized(DomainError):
    """Missing, unknown or revoked credentials."""


class ServiceUnavailable(DomainError):
    """A dependency (database, broker) cannot be reached right now."""


class Conflict(DomainError):
    """The change clashes with stored data (a unique name or slot is taken)."""
