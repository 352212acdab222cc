#!/usr/bin/env python3
"""Ground truth for config-derived parameter counts: ask transformers itself.

Usage (in a venv: pip install torch transformers accelerate):
    python scripts/transformers_count.py CONFIG.json [CONFIG.json ...]
Prints one JSON object per line: {"file", "class", "count", "init_empty_weights_count",
"transformers" (the version that counted)}, and for a mixture-of-experts model "active" and "routed".
The counts in tests/fixtures (expected_counts.json, written/expected_counts.json,
written/expected_active.json) agree with transformers 5.25.0 for every fixture config (checked
2026-12-03 with this script).

The model is built on torch's meta device (no memory is allocated) from the class named
in the config's "architectures"[0], falling back to AutoModelForCausalLM / AutoModel.
`count` deduplicates tied weights, as model.num_parameters() does.
`init_empty_weights_count` is what accelerate.init_empty_weights() gives: with
transformers 5.x it does not tie weights, so tied models are over-counted (gpt2:
163,037,184 instead of 124,439,808). Use `count`.

`active` is what one token uses: every parameter, with the routed experts' scaled by k/E. The
routed experts are the parameters of transformers' own `*Experts` modules (the stacked
`gate_up_proj` / `down_proj` of every MoE family in transformers 5, with gpt-oss's expert biases);
E is their first dimension, k the `top_k` of the MoE block or its router (else the config's
`num_experts_per_tok`). `routed * k / E` is an exact fraction, rounded down.
(Extended from ../shared/tools/transformers_count.py.)
"""
import json, sys, tempfile, pathlib, warnings
from fractions import Fraction
import math
warnings.filterwarnings("ignore")
import torch, transformers
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

try:
    from accelerate import init_empty_weights
except ImportError:  # the count does not need it
    init_empty_weights = None


def build(cfg):
    arch = (getattr(cfg, "architectures", None) or [None])[0]
    cls = getattr(transformers, arch, None) if arch else None
    if cls is not None:
        return cls._from_config(cfg)
    try:
        return AutoModelForCausalLM.from_config(cfg)
    except Exception:
        return AutoModel.from_config(cfg)


def top_k(block, cfg):
    """k of an MoE block: its own top_k, its router's, else the config's."""
    for m in [block, *block.children()]:
        for attr in ("top_k", "num_experts_per_tok", "moe_k"):
            v = getattr(m, attr, None)
            if isinstance(v, int) and v > 0:
                return v
    for c in (cfg, getattr(cfg, "text_config", None)):
        for attr in ("num_experts_per_tok", "moe_k", "num_experts_per_token"):
            v = getattr(c, attr, None) if c is not None else None
            if isinstance(v, int) and v > 0:
                return v
    raise ValueError("no top_k for an MoE block")


def active(m, cfg):
    """(active, routed), or None for a dense model."""
    modules = dict(m.named_modules())
    seen, routed, used = set(), 0, Fraction(0)
    for name, mod in modules.items():
        if not type(mod).__name__.endswith("Experts"):
            continue
        params = [p for _, p in mod.named_parameters() if id(p) not in seen]
        if not params:
            continue
        seen.update(id(p) for p in params)
        experts = max(p.shape[0] for p in params if p.dim() >= 2)
        parent = modules[name.rsplit(".", 1)[0]] if "." in name else m
        k = top_k(parent, cfg)
        n = sum(p.numel() for p in params)
        routed += n
        used += Fraction(n * k, experts)
    if not seen:
        return None
    total = sum(p.numel() for p in m.parameters())
    return total - routed + math.floor(used), routed


def main():
    for path in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as d:
            (pathlib.Path(d) / "config.json").write_text(pathlib.Path(path).read_text())
            try:
                cfg = AutoConfig.from_pretrained(d)
                with torch.device("meta"):
                    m = build(cfg)
                out = {"file": path, "class": type(m).__name__, "count": sum(p.numel() for p in m.parameters()),
                       "transformers": transformers.__version__}
                if init_empty_weights is not None:
                    with init_empty_weights():
                        m2 = build(cfg)
                    out["init_empty_weights_count"] = sum(p.numel() for p in m2.parameters())
                a = active(m, cfg)
                if a is not None:
                    out["active"], out["routed"] = a
                print(json.dumps(out))
            except Exception as e:
                print(json.dumps({"file": path, "error": f"{type(e).__name__}: {e}"[:300]}))


if __name__ == "__main__":
    main()
