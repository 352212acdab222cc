"""llm-d-planner on capcache: its capacity planner reads capcache instead of the Hub.

    import capcache.llmd
    capcache.llmd.install()
    from planner.capacity_planner import get_model_config_from_hf, model_memory_req

:func:`install` replaces, in ``planner.capacity_planner`` and in every loaded module that imported
them by name (``planner.cli.planner_cli``, ``planner.gpu_recommender``,
``planner.recommendation.estimator``, ...), the functions through which llm-d asks the Hub:

- ``model_params_by_dtype``, ``model_total_params``, ``get_safetensors_metadata_from_hf``: the
  record's ``parameters`` (stored elements per dtype, the Hub's own ``safetensors.parameters``
  shape), for models the Hub has no safetensors metadata for too;
- ``get_model_config_from_hf``: a config object with the attributes llm-d reads (layers, heads,
  KV heads, head size, MLP width, vocabulary, context length, dtype, quantization, experts, MLA),
  from the record's ``architecture``, normalised across families (OPT and GPT-2 configs have no
  ``num_key_value_heads``, for instance, which llm-d's own KV code needs);
- ``get_model_info_from_hf``: a ``huggingface_hub.ModelInfo`` carrying those parameters.

Each model's record is :func:`capcache.best_record`'s: an exact cached record, else a live
:func:`capcache.resolve` (an estimate in the cache is used only when the resolve fails, or with
``install(prefer_exact=False)``); llm-d's ``hf_token`` is passed on (without one capcache takes
the token and the endpoint from the environment as its command line does); once per process.
:func:`uninstall` restores llm-d. :func:`install` patches llm-d's own names, so it checks that the
installed llm-d-planner is one of :data:`SUPPORTED_PLANNER` (``force=True`` skips the check).

Block-quantized GGUF types (``Q4_K``, ``Q6_K``, ...) are no names llm-d's ``precision_to_byte``
knows (it raises for them), and no byte width it knows fits them (Q4_K is 4.5 bits): their
elements reach llm-d as the bytes they occupy, under ``U8`` (one byte each to llm-d), so
``model_memory_req`` is the checkpoint's ``weight_bytes``; ``model_total_params`` stays the
record's element count.

Without patching, llm-d's ``model_memory_req`` can adopt capcache through the two functions its
plan names (llm-d issue 382), with exactly its signatures: :func:`get_model_params_fallback` and
:func:`infer_dtype_from_config`.

``python -m capcache.llmd plan --model facebook/opt-125m`` runs llm-d's ``planner`` command with
capcache installed.
"""

from __future__ import annotations

import functools
import logging
import sys
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

import capcache

_log = logging.getLogger("capcache")

__all__ = [
    "SUPPORTED_PLANNER",
    "Config",
    "UnsupportedPlannerError",
    "get_model_params_fallback",
    "infer_dtype_from_config",
    "install",
    "installed",
    "planner_parameters",
    "uninstall",
]

#: The llm-d-planner versions whose private names :func:`install` patches: at least the first, below
#: the second (the names and signatures read from 0.3.3's source; tested against 0.3.3).
SUPPORTED_PLANNER: Tuple[Tuple[int, ...], Tuple[int, ...]] = ((0, 3, 3), (0, 4))

# (module, attribute, llm-d's original) for each replaced attribute.
_patched: List[Tuple[types.ModuleType, str, Any]] = []
_endpoint: Optional[str] = None
_allow_download = False
_prefer_exact = True


class UnsupportedPlannerError(ImportError):
    """The installed llm-d-planner is not one whose functions :func:`install` knows how to patch."""


def _version_tuple(text: str) -> Tuple[int, ...]:
    """``0.3.3`` -> (0, 3, 3); a pre-release or local part ends the numbers (``0.4.0rc1`` -> (0, 4, 0))."""
    parts: List[int] = []
    for piece in text.split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) < len(piece):
            break
    return tuple(parts)


def _check_planner_version() -> str:
    """The installed llm-d-planner's version, or :class:`UnsupportedPlannerError`."""
    from importlib import metadata

    try:
        version = metadata.version("llm-d-planner")
    except metadata.PackageNotFoundError as e:
        raise UnsupportedPlannerError("capcache.llmd patches llm-d-planner, which is not installed as a package") from e
    low, high = SUPPORTED_PLANNER
    if not low <= _version_tuple(version) < high:
        supported = f">={'.'.join(map(str, low))},<{'.'.join(map(str, high))}"
        raise UnsupportedPlannerError(
            f"capcache.llmd supports llm-d-planner {supported}, not {version}: its private functions may differ "
            "(install a supported version, or use get_model_params_fallback, which patches nothing; "
            "install(force=True) patches anyway)"
        )
    return version


@functools.lru_cache(maxsize=128)
def _record(model_name: str, hf_token: Optional[str]) -> Dict[str, Any]:
    return capcache.best_record(
        model_name, token=hf_token, endpoint=_endpoint, allow_download=_allow_download, prefer_exact=_prefer_exact
    )


def _precision_to_byte() -> Optional[Callable[[str], float]]:
    """llm-d's own ``precision_to_byte`` (its original, when patched), if llm-d is installed."""
    try:
        import planner.capacity_planner as cp  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    return getattr(cp, "precision_to_byte", None)


def _llmd_accepts(dtype: str) -> bool:
    """Whether llm-d's ``precision_to_byte`` gives ``dtype`` a width (without llm-d: the names it
    knew in 0.3.3, safetensors' and torch's)."""
    to_byte = _precision_to_byte()
    if to_byte is None:
        return dtype.upper() in _SAFETENSORS_BYTES
    try:
        to_byte(dtype)
        return True
    except (ValueError, KeyError):
        return False


# Bytes per element of the dtypes llm-d 0.3.3 knows, by safetensors name.
_SAFETENSORS_BYTES: Dict[str, float] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E5M2": 1, "F8_E4M3": 1, "I64": 8, "I32": 4, "I16": 2,
    "I8": 1, "U8": 1, "BOOL": 1,
}  # fmt: skip


def planner_parameters(record: Dict[str, Any]) -> Dict[str, int]:
    """A record's ``parameters`` in a form llm-d's memory functions accept: dtypes llm-d prices
    as they are; the elements of block-quantized types it cannot price (GGUF's ``Q4_K``, ...)
    as the bytes they occupy, under ``U8`` (the record's ``weight_bytes`` less the bytes of the
    other dtypes), so that llm-d's memory is the checkpoint's."""
    params = {dtype: int(n) for dtype, n in capcache.model_record(record)["parameters"].items()}
    unpriced = [d for d in params if not _llmd_accepts(d)]
    if not unpriced:
        return params
    to_byte = _precision_to_byte()
    priced = {d: n for d, n in params.items() if d not in unpriced}
    priced_bytes = sum(
        n * (to_byte(d) if to_byte is not None else _SAFETENSORS_BYTES[d.upper()]) for d, n in priced.items()
    )
    rest = int(record["weight_bytes"]) - int(priced_bytes)
    if rest < 0:
        raise capcache.CapcacheError(
            record.get("id"), f"weight_bytes {record['weight_bytes']} is less than the bytes of {sorted(priced)}"
        )
    priced["U8"] = priced.get("U8", 0) + rest
    return priced


class Config(types.SimpleNamespace):
    """The attributes of a transformers config that llm-d-planner reads, from a capcache record.

    Only the facts the record has become attributes, so llm-d's ``hasattr`` tests (quantized?
    mixture of experts?) answer for the model. The record's architecture is already the text
    model's (``text_config`` of multimodal configs), so there is no ``text_config``.
    """

    @classmethod
    def from_record(cls, record: Dict[str, Any]) -> Config:
        arch = record.get("architecture") or {}
        attrs: Dict[str, Any] = {}
        plain = (
            "model_type",
            "num_hidden_layers",
            "hidden_size",
            "num_attention_heads",
            "num_key_value_heads",
            "head_dim",
            "intermediate_size",
            "vocab_size",
            "max_position_embeddings",
            "tie_word_embeddings",
        )
        for name in plain:
            if arch.get(name) is not None:
                attrs[name] = arch[name]
        if arch.get("architectures"):
            attrs["architectures"] = list(arch["architectures"])
        # The config's own dtype name when the record keeps it, else the checkpoint's dtype
        # (safetensors names, which llm-d's precision_to_byte reads too).
        dtype = arch.get("torch_dtype") or record.get("dtype")
        if dtype and not _llmd_accepts(dtype):
            # A block-quantized GGUF type (Q4_K) is no KV cache dtype llm-d knows: llama.cpp's
            # default KV cache dtype, as the record's own kv_cache_bytes_per_token assumes.
            dtype = "F16"
        if dtype:
            attrs["torch_dtype"] = dtype
        quantization_config = arch.get("quantization_config")
        quantization = arch.get("quantization")
        if quantization_config is None and quantization:
            quantization_config = {"quant_method": quantization["method"]}
            if quantization.get("bits") is not None:
                quantization_config["bits"] = quantization["bits"]
        if quantization_config is not None:
            attrs["quantization_config"] = quantization_config
        moe = arch.get("moe")
        if moe:
            attrs["num_experts"] = moe["num_experts"]
            for key, name in (
                ("experts_per_token", "num_experts_per_tok"),
                ("num_shared_experts", "n_shared_experts"),
                ("moe_intermediate_size", "moe_intermediate_size"),
            ):
                if moe.get(key) is not None:
                    attrs[name] = moe[key]
        mla = arch.get("mla")
        if mla:
            attrs["kv_lora_rank"] = mla["kv_lora_rank"]
            attrs["qk_rope_head_dim"] = mla["qk_rope_head_dim"]
        return cls(**attrs)


def model_params_by_dtype(model_name: str, hf_token: Optional[str] = None) -> Dict[str, int]:
    """llm-d's ``model_params_by_dtype``, from capcache (block-quantized GGUF types as bytes under
    ``U8``: see the module's docs)."""
    return planner_parameters(_record(model_name, hf_token))


def _config_dict(model_config: Any) -> Dict[str, Any]:
    """A transformers config (``to_dict()``), a mapping, or an object with attributes, as a dict."""
    if model_config is None:
        return {}
    if isinstance(model_config, dict):
        return dict(model_config)
    to_dict = getattr(model_config, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    return {k: v for k, v in vars(model_config).items() if not k.startswith("_")}


def get_model_params_fallback(
    model_name: str,
    model_config: Any,
    hf_token: Optional[str] = None,
    allow_download: bool = False,
) -> Optional[Dict[str, int]]:
    """Parameter counts per dtype for a model the Hub has no safetensors metadata for (llm-d
    issue 382's ``get_model_params_fallback``): capcache's best record (an exact cached one, else
    one resolved now from safetensors headers, PyTorch pickles or GGUF headers read by range, with
    ``hf_token``; ``allow_download`` lets the last strategy download the weights); failing that, the
    count from ``model_config`` itself (a transformers ``AutoConfig``, or a dict), which equals
    transformers' own for every architecture capcache knows. Dtype names are safetensors'
    (``{"F16": 125239296}``), as ``safetensors.parameters`` gives them, in a form llm-d's
    ``precision_to_byte`` accepts. ``None`` when nothing can count the model (the reason is
    logged as a warning on the ``capcache`` logger).
    """
    try:
        return planner_parameters(
            capcache.best_record(model_name, token=hf_token, endpoint=_endpoint, allow_download=allow_download)
        )
    except capcache.CapcacheError as e:
        reason = e
    config = _config_dict(model_config)
    if config:
        try:
            return planner_parameters(capcache.estimate(config))
        except capcache.CapcacheError as e:
            reason = e
    _log.warning("cannot count %s: %s", model_name, reason)
    return None


# torch dtype names (config ``torch_dtype`` / ``dtype``) -> safetensors names.
_TORCH_DTYPES: Dict[str, str] = {
    "float64": "F64", "double": "F64", "float32": "F32", "float": "F32", "float16": "F16", "half": "F16",
    "bfloat16": "BF16", "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2", "int8": "I8", "uint8": "U8",
}  # fmt: skip


def _quantized_dtype(quant: Dict[str, Any]) -> Optional[str]:
    """The weights' dtype a ``quantization_config`` declares, as llm-d names it."""
    method = str(quant.get("quant_method", "")).lower()
    if method == "mxfp4":
        return "mxfp4"
    if method == "fp8":
        return "F8_E4M3"
    bits = quant.get("bits")
    kind = "int"
    groups = quant.get("config_groups")
    if isinstance(groups, dict) and groups:
        weights = next(iter(groups.values())).get("weights") or {}
        bits = weights.get("num_bits", bits)
        kind = str(weights.get("type", "int")).lower()
    if method == "bitsandbytes":
        bits = 4 if quant.get("load_in_4bit") else 8 if quant.get("load_in_8bit") else bits
    if not isinstance(bits, int) or bits <= 0:
        return None
    if kind == "float":
        return {8: "F8_E4M3", 4: "fp4"}.get(bits)
    return {8: "int8", 4: "int4"}.get(bits) or f"int{bits}"


def infer_dtype_from_config(model_config: Any) -> str:
    """The primary dtype of a model's weights from its config (llm-d issue 382's
    ``infer_dtype_from_config``), as a name llm-d's ``precision_to_byte`` accepts: the quantized
    weights' dtype when ``quantization_config`` declares one (``F8_E4M3``, ``int4``, ``int8``,
    ``mxfp4``, ``fp4``), else ``torch_dtype`` / ``dtype`` (of ``text_config`` for multimodal
    models) in safetensors' names (``BF16``, ``F16``, ``F32``, ...), else ``F32``, transformers'
    default."""
    config = _config_dict(model_config)
    quant = config.get("quantization_config")
    if isinstance(quant, dict):
        dtype = _quantized_dtype(quant)
        if dtype is not None and _llmd_accepts(dtype):
            return dtype
    for source in (config, _config_dict(config.get("text_config"))):
        for key in ("torch_dtype", "dtype"):
            value = source.get(key)
            if value is not None:
                name = str(value).removeprefix("torch.").lower()
                if name in _TORCH_DTYPES:
                    return _TORCH_DTYPES[name]
                if name.upper() in _SAFETENSORS_BYTES:
                    return name.upper()
    return "F32"


def model_total_params(model_name: str, hf_token: Optional[str] = None) -> int:
    """llm-d's ``model_total_params``, from capcache."""
    return int(_record(model_name, hf_token)["total"])


def get_safetensors_metadata_from_hf(model_name: str, hf_token: Optional[str] = None) -> Any:
    """llm-d's ``get_safetensors_metadata_from_hf``: huggingface_hub's ``SafetensorsRepoMetadata``
    whose ``parameter_count`` is capcache's (no file metadata)."""
    # Where llm-d imports it from.
    from huggingface_hub.hf_api import SafetensorsRepoMetadata  # type: ignore[attr-defined,unused-ignore]

    meta = SafetensorsRepoMetadata(metadata=None, sharded=False, weight_map={}, files_metadata={})
    meta.parameter_count = model_params_by_dtype(model_name, hf_token)  # type: ignore[assignment,unused-ignore]
    return meta


def get_model_config_from_hf(model_name: str, hf_token: Optional[str] = None) -> Config:
    """llm-d's ``get_model_config_from_hf``, from capcache."""
    return Config.from_record(_record(model_name, hf_token))


def get_model_info_from_hf(model_name: str, hf_token: Optional[str] = None) -> Any:
    """llm-d's ``get_model_info_from_hf``: a ``huggingface_hub.ModelInfo`` with capcache's
    revision and parameters. ``sha`` is a Hub commit: a record read from a local folder (the
    shipped db's) has none, its revision being the folder snapshot's name."""
    from huggingface_hub import ModelInfo

    record = _record(model_name, hf_token)
    safetensors = {"parameters": dict(record["parameters"]), "total": record["total"]}
    sha = None if record.get("source") == "local" else record["revision"]
    return ModelInfo(id=model_name, sha=sha, safetensors=safetensors)  # type: ignore[no-untyped-call,unused-ignore]


_REPLACEMENTS: Dict[str, Callable[..., Any]] = {
    "model_params_by_dtype": model_params_by_dtype,
    "model_total_params": model_total_params,
    "get_safetensors_metadata_from_hf": get_safetensors_metadata_from_hf,
    "get_model_config_from_hf": get_model_config_from_hf,
    "get_model_info_from_hf": get_model_info_from_hf,
}


def install(
    *, endpoint: Optional[str] = None, allow_download: bool = False, prefer_exact: bool = True, force: bool = False
) -> None:
    """Makes llm-d-planner read capcache instead of the Hub (see the module's docs).

    ``endpoint`` and ``allow_download`` are passed to :func:`capcache.resolve` for models the
    cache has no exact record of; ``prefer_exact=False`` takes a cached estimate without asking.
    Raises :class:`UnsupportedPlannerError` when the installed llm-d-planner is not one of
    :data:`SUPPORTED_PLANNER` (``force=True`` patches anyway). Installing twice changes nothing;
    modules of llm-d imported later see capcache's functions too.
    """
    global _endpoint, _allow_download, _prefer_exact
    try:
        import planner.capacity_planner as cp  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as e:
        raise ImportError("capcache.llmd patches llm-d-planner: pip install 'llm-d-planner[estimation]'") from e
    if not force:
        _check_planner_version()

    _endpoint, _allow_download, _prefer_exact = endpoint, allow_download, prefer_exact
    if _patched:
        return
    originals = {name: getattr(cp, name) for name in _REPLACEMENTS}
    # Every module that holds llm-d's function under its name, read from the module's dict (a
    # lazy module's __getattr__ must not run).
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for name, replacement in _REPLACEMENTS.items():
            if namespace.get(name) is originals[name]:
                _patched.append((module, name, originals[name]))
                setattr(module, name, replacement)


def uninstall() -> None:
    """Restores llm-d-planner's own functions and forgets the records read."""
    while _patched:
        module, name, original = _patched.pop()
        if module.__dict__.get(name) is _REPLACEMENTS[name]:
            setattr(module, name, original)
    _record.cache_clear()


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_patched)


def _main() -> None:
    """``python -m capcache.llmd ARGS``: llm-d's ``planner ARGS`` on capcache."""
    install()
    from planner.cli.planner_cli import main  # type: ignore[import-untyped,import-not-found,unused-ignore]

    sys.argv[0] = "planner"
    main()


if __name__ == "__main__":
    _main()
