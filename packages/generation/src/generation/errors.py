"""The one error type of the generation layer: one clear line for the stage runner, no secrets."""

from data_core.errors import DataCoreError


class GenerationError(DataCoreError):
    """A generator cannot be built (missing library, GPU, key) or failed after its retries."""


class MalformedResponse(GenerationError):
    """A server answered 200 with a body that is not a usable completion (retried)."""


class UnansweredRequests(GenerationError):
    """Requests that still failed after their retries, beyond the backend's failure budget.

    Everything answered is already in the response cache, so a re-run asks only for these.
    """
