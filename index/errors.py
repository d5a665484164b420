"""Errors a user can cause or fix, each with a message written for that user."""


class PirError(Exception):
    """Base of every user-facing error; str(err) is the message to show."""


class ModelUnavailable(PirError):
    """A model's weights cannot be loaded (offline, missing path, bad checkpoint)."""


class CatalogError(PirError):
    """The catalog cannot be opened or written (read-only path, newer schema, corrupt)."""


class NotFound(PirError):
    """A photo, person or face the user named does not exist in the library."""


class InvalidInput(PirError):
    """A name, command or argument the user gave cannot be used as it is."""


class Conflict(PirError):
    """Someone else changed a person since the user last saw it; `current` is its name now."""

    def __init__(self, message: str, current: str | None):
        super().__init__(message)
        self.current = current


class WriteFailed(PirError):
    """A file in the data dir could not be written (disk full, read-only, permissions)."""
