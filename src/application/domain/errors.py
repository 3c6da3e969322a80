"""Domain errors: the web adapter maps each to a status code in one table."""


class DomainError(Exception):
    """Base of every error the core raises on purpose."""


class InvalidParameter(DomainError):
    """A parameter has a value the core cannot use; `choices` lists the valid ones when known."""

    def __init__(self, message: str, choices: list[str] | None = None, parameter: str | None = None):
        super().__init__(message)
        self.choices = choices
        self.parameter = parameter  # the one at fault, when the message is about one


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Unauthorized(DomainError):
    """Missing, unknown or revoked credentials."""


class Forbidden(DomainError):
    """The caller is known, but its role does not allow this."""


class QuotaExceeded(DomainError):
    """The caller has used up one of its quotas of work; `quota` names it."""

    def __init__(self, quota: str, limit: int, used: int, asked: int):
        super().__init__(f"quota {quota} exceeded: {used:,} used of {limit:,}, this asks {asked:,} more")
        self.quota, self.limit, self.used, self.asked = quota, limit, used, asked


class ServiceUnavailable(DomainError):
    """A dependency (database, broker) cannot be reached right now."""


class Conflict(DomainError):
    """The change clashes with stored data (a unique name or slot is taken)."""
