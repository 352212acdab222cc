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

Each model's record comes from capcache's cache first, then from a live :func:`capcache.resolve`
(llm-d's ``hf_token`` is passed on; without one capcache takes the token and the endpoint from
the environment as its command line does), once per process. :func:`uninstall` restores llm-d.

``python -m capcache.llmd plan --model facebook/opt-125m`` runs llm-d's ``planner`` command with
capcache installed.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

import capcache

__all__ = ["Config", "install", "installed", "uninstall"]

# (module, attribute, llm-d's original) for each replaced attribute.
_patched: List[Tuple[types.ModuleType, str, Any]] = []
_endpoint: Optional[str] = None
_allow_download = False


@functools.lru_cache(maxsize=128)
def _record(model_name: str, hf_token: Optional[str]) -> Dict[str, Any]:
    record = capcache.get(model_name)
    if record is None:
        record = capcache.resolve(model_name, token=hf_token, endpoint=_endpoint, allow_download=_allow_download)
    return record


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
    """llm-d's ``model_params_by_dtype``, from capcache."""
    return dict(_record(model_name, hf_token)["parameters"])


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
    revision and parameters."""
    from huggingface_hub import ModelInfo

    record = _record(model_name, hf_token)
    safetensors = {"parameters": dict(record["parameters"]), "total": record["total"]}
    return ModelInfo(id=model_name, sha=record["revision"], safetensors=safetensors)  # type: ignore[no-untyped-call,unused-ignore]


_REPLACEMENTS: Dict[str, Callable[..., Any]] = {
    "model_params_by_dtype": model_params_by_dtype,
    "model_total_params": model_total_params,
    "get_safetensors_metadata_from_hf": get_safetensors_metadata_from_hf,
    "get_model_config_from_hf": get_model_config_from_hf,
    "get_model_info_from_hf": get_model_info_from_hf,
}


def install(*, endpoint: Optional[str] = None, allow_download: bool = False) -> None:
    """Makes llm-d-planner read capcache instead of the Hub (see the module's docs).

    ``endpoint`` and ``allow_download`` are passed to :func:`capcache.resolve` for models the
    cache does not have. Installing twice changes nothing; modules of llm-d imported later see
    capcache's functions too.
    """
    global _endpoint, _allow_download
    try:
        import planner.capacity_planner as cp  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as e:
        raise ImportError("capcache.llmd patches llm-d-planner: pip install 'llm-d-planner[estimation]'") from e

    _endpoint, _allow_download = endpoint, allow_download
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
