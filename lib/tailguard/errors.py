"""Errors that end a job with one clear line (the CLI prints them without a traceback)."""


class TailguardError(Exception):
    """A user-facing failure: bad config, missing input, unusable model."""


class ConfigError(TailguardError):
    """The configuration is unreadable, names an unknown key or has a wrong type."""


class InputError(TailguardError):
    """An input path or table a job needs does not exist or cannot be used."""
