"""Backend errors: one clear line for the stage runner, never a credential."""

from data_core.errors import DataCoreError


class BackendError(DataCoreError):
    """A backend cannot be built or failed after its retries."""


class BackendUnavailable(BackendError):
    """An optional backend's library or hardware is missing (says what to install)."""


class MalformedResponse(Exception):
    """A server answered 200 with a body that is not a usable chat completion."""
