"""What stops the service from starting."""


class ConfigurationError(RuntimeError):
    """The environment asks for something the service must refuse to start with."""
