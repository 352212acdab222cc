"""capcache: parameter counts per dtype and the capacity facts of Hugging Face models.

The answers come from capcache's cache (a db.json or SQLite store, ``$CAPCACHE_DB``, the db
installed by :func:`update`, or the db.json inside this package), or from the strategy chain run now against the Hub: its own metadata,
safetensors headers and PyTorch pickles read by HTTP range, GGUF headers, and a count from
config.json that equals transformers'. Everything runs in process, in Rust, with the GIL released.

    >>> import capcache
    >>> capcache.params_by_dtype("facebook/opt-125m")
    {'F16': 125239296}

Records are dicts in db.json's schema (see the README), with an ``"id"`` field.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from . import _native
from ._errors import (
    CapcacheError,
    GatedRepoError,
    InvalidFileError,
    RateLimitedError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

__version__: str = _native.__version__

__all__ = [
    "CapcacheError",
    "GatedRepoError",
    "InvalidFileError",
    "RateLimitedError",
    "RepositoryNotFoundError",
    "RevisionNotFoundError",
    "best_record",
    "estimate",
    "get",
    "model_record",
    "params_by_dtype",
    "resolve",
    "update",
]

_log = logging.getLogger(__name__)

PathArg = Union[str, "os.PathLike[str]"]


def get(model_id: str, db: Optional[PathArg] = None) -> Optional[Dict[str, Any]]:
    """The cached record of ``model_id``, or ``None`` when the cache has none. No network.

    The cache is ``db`` (a db.json or a SQLite store) alone; without it, the first of
    ``$CAPCACHE_DB``, the db installed by :func:`update` and the db.json inside this package that
    has a record of the model answers. Raises ``ValueError`` for an invalid id and :class:`CapcacheError` for a
    cache that cannot be read.
    """
    text = _native.get(model_id, db)
    if text is None:
        return None
    record: Dict[str, Any] = json.loads(text)
    return record


def update(
    repo: Optional[str] = None,
    *,
    revision: Optional[str] = None,
    token: Optional[str] = None,
    endpoint: Optional[str] = None,
) -> Dict[str, Any]:
    """Installs the newest published db (as ``capcache update``), which :func:`get` then reads.

    ``repo`` is the Hugging Face dataset repository the nightly publishes to (the README names
    the default); the endpoint and token follow the same rules as :func:`resolve`. The db lands
    in ``$XDG_DATA_HOME/capcache/`` (else ``~/.local/share/capcache/``), only if it matches its
    checksum, every record passes the store checks and it is no older than the installed one;
    otherwise :class:`CapcacheError` is raised and the installed db is kept. An unchanged
    publication downloads nothing. Returns ``{"status": "installed" | "unchanged", "path",
    "installed", "previous"}``.
    """
    done: Dict[str, Any] = json.loads(_native.update(repo, revision, token, endpoint))
    return done


def resolve(
    model_id: str,
    *,
    revision: Optional[str] = None,
    token: Optional[str] = None,
    endpoint: Optional[str] = None,
    allow_download: bool = False,
    strategies: Optional[Sequence[str]] = None,
) -> Dict[str, Any]:
    """Resolves ``model_id`` through the strategy chain now and returns its record (nothing is
    written to any cache), exactly as ``capcache resolve --json`` does.

    ``token`` defaults to ``$HF_TOKEN``, else the file at ``$HF_TOKEN_PATH``, else
    ``$HF_HOME/token``; ``endpoint`` to ``$HF_ENDPOINT``, else https://huggingface.co.
    ``revision`` is a branch, tag or commit (default ``main``). ``allow_download`` lets the last
    strategy download the weight files into the Hugging Face cache and count them.
    ``strategies`` picks and orders strategies (``hub-metadata``, ``safetensors``, ``pytorch``,
    ``gguf``, ``download``, ``config``).

    Raises :class:`GatedRepoError`, :class:`RepositoryNotFoundError`,
    :class:`RevisionNotFoundError`, :class:`RateLimitedError`, :class:`InvalidFileError`, or
    :class:`CapcacheError` for other outcomes, each with the model id, the message and the
    strategies tried; ``ValueError`` for an invalid id or revision.
    """
    if isinstance(strategies, str):
        strategies = strategies.split(",")
    text = _native.resolve(
        model_id,
        revision=revision,
        token=token,
        endpoint=endpoint,
        allow_download=allow_download,
        strategies=None if strategies is None else list(strategies),
    )
    record: Dict[str, Any] = json.loads(text)
    return record


def estimate(config: Union[Mapping[str, Any], PathArg]) -> Dict[str, Any]:
    """Counts a model from its config alone (the ``config`` strategy), as ``capcache estimate
    --json`` does: ``config`` is a dict, a config.json path, or a model folder holding one.
    Nothing is downloaded. The record's ``id`` and ``files`` name the file (``config.json`` for a
    dict).
    """
    if isinstance(config, Mapping):
        text = _native.estimate_config(json.dumps(dict(config)), "config.json")
    else:
        path = Path(config)
        if path.is_dir():
            path = path / "config.json"
        text = _native.estimate_file(path)
    record: Dict[str, Any] = json.loads(text)
    return record


def best_record(
    model_id: str,
    *,
    token: Optional[str] = None,
    endpoint: Optional[str] = None,
    allow_download: bool = False,
    prefer_exact: bool = True,
) -> Dict[str, Any]:
    """The best record capcache can give for ``model_id`` now: the cached one when it is exact;
    when the cache holds only an estimate (a count from config.json) and ``prefer_exact`` is true,
    a live :func:`resolve` (an exact count is a request away), falling back to the cached estimate
    when the resolve fails (offline, rate limited, gated, ...: logged as a warning on the
    ``capcache`` logger); when the cache has nothing, a live :func:`resolve`, whose failure is
    raised. A record's ``exact`` field says which it is.
    """
    record = get(model_id)
    if record is not None and (record.get("exact") or not prefer_exact):
        return record
    try:
        return resolve(model_id, token=token, endpoint=endpoint, allow_download=allow_download)
    except CapcacheError as e:
        if record is None:
            raise
        _log.warning("%s: using the cached estimate (%s strategy); the exact count failed: %s", model_id, record.get("strategy"), e)
        return record


def params_by_dtype(
    model_id: str,
    *,
    token: Optional[str] = None,
    allow_download: bool = False,
    endpoint: Optional[str] = None,
    prefer_exact: bool = True,
) -> Optional[Dict[str, int]]:
    """The model's parameter counts per dtype (``{"BF16": 8030261248}``, safetensors dtype
    names, as the Hub's ``safetensors.parameters`` gives them), from :func:`best_record`: an
    exact cached record, else a live resolve (a cached estimate is the answer only when the
    resolve fails, or when ``prefer_exact`` is false); ``None`` when nothing can count the model
    (not found, gated, no strategy applies, ...; the reason is logged as a warning on the
    ``capcache`` logger).
    """
    try:
        record = model_record(
            best_record(model_id, token=token, endpoint=endpoint, allow_download=allow_download, prefer_exact=prefer_exact)
        )
    except CapcacheError as e:
        _log.warning("cannot count %s: %s", model_id, e)
        return None
    return {dtype: int(n) for dtype, n in record["parameters"].items()}


def model_record(record: Dict[str, Any]) -> Dict[str, Any]:
    """``record`` when it counts a model; a :class:`CapcacheError` (outcome ``adapter``) when the
    repository holds only an adapter (a LoRA and the like: the record's ``adapter`` field), whose
    parameters are the adapter's, not the model's that loads it."""
    adapter = record.get("adapter")
    if adapter is None:
        return record
    base = adapter.get("base_model") or "a base model it does not name"
    kind = f" ({adapter['peft_type']})" if adapter.get("peft_type") else ""
    raise CapcacheError(
        record.get("id"),
        f"is an adapter{kind} of {base}, not a model: its {record.get('total')} parameters are the adapter's; count the base model",
        outcome="adapter",
    )
