"""capcache's exceptions, and the one table that maps a failed resolve's outcome to its class.

The Hub's kinds of failure carry the names huggingface_hub gives them, and where huggingface_hub is
installed they are also its classes (:class:`GatedRepoError` is a
``huggingface_hub.errors.GatedRepoError``, and so on), so code written against huggingface_hub
catches them unchanged; all derive from :class:`CapcacheError`. They carry no HTTP response
(``response``, ``request``, ``request_id`` and ``server_message`` are ``None``): capcache's
requests are made in Rust.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple, Type


def _hub_classes() -> Dict[str, Tuple[type, ...]]:
    """huggingface_hub's exception classes by name, when it is installed (none otherwise)."""
    try:
        from huggingface_hub import errors
    except ImportError:
        return {}
    names = ("GatedRepoError", "RepositoryNotFoundError", "RevisionNotFoundError", "HfHubHTTPError")
    return {name: (getattr(errors, name),) for name in names if isinstance(getattr(errors, name, None), type)}


_HUB = _hub_classes()


class CapcacheError(Exception):
    """Base of capcache's errors.

    Attributes:
        model_id: the model the error is about (``None`` when it is about no one model).
        message: what happened, naming the file or field (never a token); ``str()`` of the
            exception also names the model.
        outcome: the short outcome name records use (``gated``, ``not-found``, ``rate-limited``,
            ``invalid-file``, ``unresolved``, ...) when a resolve failed, else ``None``.
        tried: for a failed resolve, each strategy tried and its outcome.
    """

    def __init__(
        self,
        model_id: Optional[str],
        message: str,
        outcome: Optional[str] = None,
        tried: Optional[List[Dict[str, Any]]] = None,
    ) -> None:
        # The exception's text names the model even when the library's message names only a file.
        named = model_id is None or model_id in message
        # Exception's own constructor: huggingface_hub's classes (bases of some subclasses) want
        # an HTTP response, which capcache does not have.
        Exception.__init__(self, message if named else f"{model_id}: {message}")
        self.response: Any = None
        self.request: Any = None
        self.request_id: Optional[str] = None
        self.server_message: Optional[str] = None
        self.model_id = model_id
        self.message = message
        self.outcome = outcome
        self.tried: List[Dict[str, Any]] = list(tried or [])

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (self.model_id, self.message, self.outcome, self.tried))

    def __reduce_ex__(self, protocol: Any) -> Tuple[Any, ...]:
        # Before huggingface_hub's own, which would rebuild the exception from a response.
        return self.__reduce__()


class RepositoryNotFoundError(CapcacheError, *_HUB.get("RepositoryNotFoundError", ())):  # type: ignore[misc]
    """No such repository, or it is private and the token cannot see it."""


class GatedRepoError(RepositoryNotFoundError, *_HUB.get("GatedRepoError", ())):  # type: ignore[misc]
    """The repository is gated: a token from an account that was granted access is needed (a
    kind of :class:`RepositoryNotFoundError`, as in huggingface_hub)."""


class RevisionNotFoundError(CapcacheError, *_HUB.get("RevisionNotFoundError", ())):  # type: ignore[misc]
    """The repository has no such branch, tag or commit."""


class RateLimitedError(CapcacheError, *_HUB.get("HfHubHTTPError", ())):  # type: ignore[misc]
    """The Hub kept answering 429 beyond the retries (or asked to wait longer than capcache waits)."""


class InvalidFileError(CapcacheError):
    """A file of the repository (config.json, a weights header) could not be parsed or is not
    what it claims to be."""


# A failed resolve's outcome -> the exception raised for it; other outcomes raise CapcacheError.
_BY_OUTCOME: Dict[str, Type[CapcacheError]] = {
    "gated": GatedRepoError,
    "not-found": RepositoryNotFoundError,
    "revision-not-found": RevisionNotFoundError,
    "rate-limited": RateLimitedError,
    "invalid-file": InvalidFileError,
    "invalid-config": InvalidFileError,
}


def from_failure(failure_json: str) -> CapcacheError:
    """The exception for a failure record (``capcache resolve --json``'s output when it fails)."""
    failure = json.loads(failure_json)
    outcome = failure["outcome"]
    cls = _BY_OUTCOME.get(outcome, CapcacheError)
    return cls(failure["id"], failure["message"], outcome, failure.get("tried"))
