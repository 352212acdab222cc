#!/usr/bin/env python3
"""Writes config.json fixtures for the architecture families that ../shared/fixtures lacks, and
records transformers' own parameter count for each beside them.

Each config is a transformers config class's defaults (`AutoConfig.for_model(model_type)`) with
the overrides below (sizes shaped like a published model of that family, or a switch that changes
the layout: qk norms, new decoder architecture, dense-only layers, ...). The ground truth comes
from ../shared/tools/transformers_count.py (meta device, tied weights once).

Usage (venv with torch + transformers + accelerate):
    python scripts/make-config-fixtures.py [--shared ../shared] [--only NAME,NAME]
Writes tests/fixtures/written/<name>.json and tests/fixtures/written/expected_counts.json (with
--only, just those cases, merged into the expected counts).
    python scripts/make-config-fixtures.py --active
Writes tests/fixtures/written/expected_active.json: for every mixture-of-experts config among the
fixtures (fixtures/configs and fixtures/written), transformers' active parameters and routed-expert
parameters, from scripts/transformers_count.py.

Configs whose class defaults hold an infinite float (Mamba-2's `time_step_limit`) are written
without it, as `save_pretrained` leaves defaults out, except the INFINITE cases, which keep it as
Python's json writes it (`Infinity`), as published hybrid checkpoints carry it.
"""
import argparse, json, math, pathlib, subprocess, sys, warnings

warnings.filterwarnings("ignore")
from transformers import AutoConfig

CASES = {
    "mixtral-small": ("mixtral", {"hidden_size": 1024, "intermediate_size": 3584, "num_hidden_layers": 4, "num_local_experts": 4}),
    "qwen2_moe-a2.7b": ("qwen2_moe", {}),
    "qwen2_moe-dense-layers": ("qwen2_moe", {"num_hidden_layers": 6, "mlp_only_layers": [0, 3], "decoder_sparse_step": 2}),
    "qwen3_moe-30b-a3b": ("qwen3_moe", {"hidden_size": 2048, "num_hidden_layers": 48, "num_experts": 128, "moe_intermediate_size": 768, "head_dim": 128, "num_key_value_heads": 4}),
    "gemma3_text-1b": ("gemma3_text", {"hidden_size": 1152, "intermediate_size": 6912, "num_hidden_layers": 26, "num_attention_heads": 4, "num_key_value_heads": 1, "vocab_size": 262144}),
    "gemma3-4b": ("gemma3", {"text_config": {"hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 262208, "model_type": "gemma3_text"},
                             "vision_config": {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16, "image_size": 896, "patch_size": 14, "vision_use_head": False, "model_type": "siglip_vision_model"}}),
    "gptj-6b": ("gptj", {}),
    "falcon-7b": ("falcon", {}),
    "falcon-40b-new-arch": ("falcon", {"hidden_size": 1024, "num_attention_heads": 16, "num_kv_heads": 4, "num_hidden_layers": 4, "new_decoder_architecture": True, "multi_query": False, "bias": False}),
    "falcon-rw-1b": ("falcon", {"hidden_size": 2048, "num_attention_heads": 32, "num_hidden_layers": 24, "multi_query": False, "parallel_attn": False, "bias": True, "vocab_size": 50304}),
    "bloom-560m": ("bloom", {"hidden_size": 1024, "n_layer": 24, "n_head": 16}),
    "deepseek_v3-671b": ("deepseek_v3", {}),
    "deepseek_v3-no-q-lora": ("deepseek_v3", {"hidden_size": 1024, "num_hidden_layers": 5, "first_k_dense_replace": 2, "q_lora_rank": None, "n_routed_experts": 8, "num_attention_heads": 8, "num_key_value_heads": 8}),
    "granitemoe-3b": ("granitemoe", {"hidden_size": 1536, "intermediate_size": 512, "num_hidden_layers": 32, "num_attention_heads": 24, "num_key_value_heads": 8, "num_local_experts": 40, "num_experts_per_tok": 8, "vocab_size": 49155, "tie_word_embeddings": True}),
    "starcoder2-3b": ("starcoder2", {"hidden_size": 3072, "intermediate_size": 12288, "num_hidden_layers": 30, "num_attention_heads": 24, "num_key_value_heads": 2}),
    "stablelm-2-1.6b": ("stablelm", {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24, "vocab_size": 100352, "use_qkv_bias": True}),
    "stablelm-qk-layernorm-parallel": ("stablelm", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "qk_layernorm": True, "use_parallel_residual": True}),
    "cohere-command-r": ("cohere", {}),
    "cohere-qk-norm": ("cohere", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "use_qk_norm": True, "vocab_size": 1000}),
    "mpt-7b": ("mpt", {"d_model": 4096, "n_heads": 32, "n_layers": 32, "vocab_size": 50432}),
    "gpt_oss-20b": ("gpt_oss", {"num_hidden_layers": 24, "num_local_experts": 32}),
    "gpt_oss-120b": ("gpt_oss", {}),
    "bert-base-masked-lm": ("bert", {"architectures": ["BertForMaskedLM"]}),
    "bert-minilm-l6": ("bert", {"architectures": ["BertModel"], "hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6}),
    "opt-350m-projected": ("opt", {"hidden_size": 1024, "word_embed_proj_dim": 512, "ffn_dim": 4096, "num_hidden_layers": 24, "num_attention_heads": 16, "do_layer_norm_before": False}),
    "llama4_text-small": ("llama4_text", {"hidden_size": 512, "intermediate_size": 256, "intermediate_size_mlp": 1024, "num_hidden_layers": 4, "interleave_moe_layer_step": 2, "num_local_experts": 4, "vocab_size": 1000}),
    "gemma-7b": ("gemma", {}),
    "granite-3b-biases": ("granite", {"hidden_size": 1024, "num_hidden_layers": 4, "attention_bias": True, "mlp_bias": True, "num_key_value_heads": 8}),
    "llama-attention-bias": ("llama", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 8, "attention_bias": True, "mlp_bias": True}),
    # Dense decoders that differ from a known family in a norm, a bias, an MLP or a head.
    "phi-1_5": ("phi", {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 4, "num_attention_heads": 16, "vocab_size": 51200}),
    "phi-qk-layernorm-gqa": ("phi", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 4, "qk_layernorm": True, "vocab_size": 1000}),
    "persimmon-small": ("persimmon", {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 3, "num_attention_heads": 8, "vocab_size": 1000}),
    "persimmon-no-qk-layernorm": ("persimmon", {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 2, "num_attention_heads": 8, "vocab_size": 1000, "qk_layernorm": False}),
    "arcee-biases": ("arcee", {"hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 3, "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000, "attention_bias": True, "mlp_bias": True}),
    "apertus-xielu": ("apertus", {"hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 3, "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000}),
    "apertus-gelu": ("apertus", {"hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 2, "num_attention_heads": 8, "vocab_size": 1000, "hidden_act": "gelu"}),
    "olmo3-small": ("olmo3", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 6, "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000}),
    "cohere2-small": ("cohere2", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000}),
    "exaone4-small": ("exaone4", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 8, "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000}),
    "seed_oss-biases": ("seed_oss", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 96, "attention_out_bias": True, "mlp_bias": True, "vocab_size": 1000}),
    "ernie4_5-untied-bias": ("ernie4_5", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64, "use_bias": True, "tie_word_embeddings": False, "vocab_size": 1000}),
    "gpt_bigcode-santacoder": ("gpt_bigcode", {"n_embd": 1024, "n_layer": 4, "n_head": 16, "n_positions": 2048, "vocab_size": 49280}),
    "gpt_bigcode-multi-head": ("gpt_bigcode", {"n_embd": 512, "n_layer": 2, "n_head": 8, "n_inner": 1536, "vocab_size": 1000, "multi_query": False}),
    "codegen-350m": ("codegen", {"n_embd": 1024, "n_layer": 4, "n_head": 16, "vocab_size": 51200, "n_inner": 2048}),
    "gpt_neo-125m": ("gpt_neo", {"hidden_size": 768, "num_layers": 4, "num_heads": 12, "attention_types": [[["global", "local"], 2]]}),
    # Vision-language models.
    "qwen2_vl-small": ("qwen2_vl", {"text_config": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 4, "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936},
                                    "vision_config": {"depth": 4, "embed_dim": 640, "num_heads": 8, "hidden_size": 1536, "mlp_ratio": 3}}),
    "qwen2_vl-flat-tied": ("qwen2_vl", {"text_config": {"hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000, "tie_word_embeddings": True},
                                        "vision_config": {"depth": 2, "embed_dim": 512, "num_heads": 8, "hidden_size": 1024}}),
    "qwen2_5_vl-small": ("qwen2_5_vl", {"text_config": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 4, "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936},
                                        "vision_config": {"depth": 4, "hidden_size": 640, "intermediate_size": 1280, "out_hidden_size": 1536, "num_heads": 8, "fullatt_block_indexes": [1, 3]}}),
    "qwen3_vl-small": ("qwen3_vl", {"text_config": {"hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 1000},
                                    "vision_config": {"depth": 4, "hidden_size": 512, "intermediate_size": 1024, "out_hidden_size": 1024, "num_heads": 8, "deepstack_visual_indexes": [1, 2], "num_position_embeddings": 1024}}),
    "qwen3_vl_moe-small": ("qwen3_vl_moe", {"text_config": {"hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 4, "num_experts": 8, "moe_intermediate_size": 256, "num_experts_per_tok": 2, "vocab_size": 1000},
                                            "vision_config": {"depth": 2, "hidden_size": 512, "intermediate_size": 1024, "out_hidden_size": 1024, "num_heads": 8, "deepstack_visual_indexes": [0]}}),
    "mistral3-small": ("mistral3", {"text_config": {"model_type": "mistral", "hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 128, "vocab_size": 1000},
                                    "vision_config": {"model_type": "pixtral", "hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 8, "patch_size": 14}, "tie_word_embeddings": False}),
    "mistral3-defaults": ("mistral3", {}),
    "internvl-small": ("internvl", {"text_config": {"model_type": "qwen2", "hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000},
                                    "vision_config": {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 8, "image_size": [448, 448], "patch_size": [14, 14], "use_qk_norm": True, "norm_type": "rms_norm", "use_mean_pooling": False}, "downsample_ratio": 0.25}),
    "internvl-defaults": ("internvl", {}),
    "idefics3-small": ("idefics3", {"text_config": {"model_type": "llama", "hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 2, "num_attention_heads": 8, "vocab_size": 1000},
                                    "vision_config": {"hidden_size": 768, "intermediate_size": 1536, "num_hidden_layers": 2, "num_attention_heads": 12, "patch_size": 16, "image_size": 512}, "scale_factor": 4}),
    "paligemma-small": ("paligemma", {"text_config": {"model_type": "gemma", "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 1, "vocab_size": 1000},
                                      "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 768, "intermediate_size": 1536, "num_hidden_layers": 2, "num_attention_heads": 12, "patch_size": 14, "image_size": 224, "vision_use_head": False}, "projection_dim": 1024}),
    "paligemma2-gemma2": ("paligemma", {"text_config": {"model_type": "gemma2", "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 1000},
                                        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 768, "intermediate_size": 1536, "num_hidden_layers": 2, "num_attention_heads": 12}, "projection_dim": 1024}),
    "paligemma-defaults": ("paligemma", {}),
    # Encoder-decoder.
    "t5-small": ("t5", {}),
    "flan-t5-gated-asymmetric": ("t5", {"d_model": 768, "d_ff": 2048, "num_layers": 4, "num_decoder_layers": 2, "num_heads": 12, "d_kv": 64, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False}),
    "t5-encoder": ("t5", {"architectures": ["T5EncoderModel"], "d_model": 512, "num_layers": 3, "vocab_size": 1000}),
    # State-space models and hybrids.
    "mamba-130m": ("mamba", {"hidden_size": 768, "num_hidden_layers": 24, "vocab_size": 50280}),
    "mamba-biases": ("mamba", {"hidden_size": 512, "num_hidden_layers": 2, "state_size": 8, "expand": 3, "conv_kernel": 3, "time_step_rank": 20, "use_bias": True, "use_conv_bias": False, "vocab_size": 1000, "tie_word_embeddings": False}),
    "mamba2-small": ("mamba2", {"hidden_size": 1024, "num_hidden_layers": 4, "num_heads": 32, "head_dim": 64, "n_groups": 2, "state_size": 64, "vocab_size": 1000}),
    "jamba-small": ("jamba", {"hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 8, "num_attention_heads": 16, "num_key_value_heads": 4, "num_experts": 4, "attn_layer_period": 4, "attn_layer_offset": 2, "expert_layer_period": 2, "expert_layer_offset": 1, "mamba_d_state": 8, "mamba_dt_rank": 32, "vocab_size": 1000}),
    "bamba-attention-layers": ("bamba", {"hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 8, "num_attention_heads": 16, "num_key_value_heads": 4, "attn_layer_indices": [3, 7], "mamba_n_heads": 32, "mamba_d_state": 64, "mamba_n_groups": 2, "vocab_size": 1000}),
    "falcon_h1-small": ("falcon_h1", {"hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64, "mamba_d_ssm": 1536, "mamba_n_heads": 24, "mamba_d_state": 64, "mamba_rms_norm": True, "projectors_bias": True, "vocab_size": 1000}),
    "zamba2-2.7b": ("zamba2", {}),
    "zamba2-two-blocks-adapters": ("zamba2", {"hidden_size": 512, "num_hidden_layers": 6, "layers_block_type": ["mamba", "hybrid", "mamba", "hybrid", "mamba", "hybrid"], "num_mem_blocks": 2, "num_attention_heads": 8, "n_mamba_heads": 8, "mamba_d_state": 32, "intermediate_size": 1024, "vocab_size": 1000, "use_shared_attention_adapter": True, "adapter_rank": 16}),
    "nemotron_h-pattern": ("nemotron_h", {"hidden_size": 1024, "hybrid_override_pattern": "M-M*-ME", "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64, "mamba_num_heads": 16, "mamba_head_dim": 64, "n_groups": 2, "ssm_state_size": 64, "intermediate_size": 2048, "n_routed_experts": 4, "moe_intermediate_size": 256, "moe_shared_expert_intermediate_size": 512, "vocab_size": 1000}),
    "nemotron_h-latent-moe": ("nemotron_h", {"hidden_size": 1024, "layers_block_type": ["linear_attention", "moe", "full_attention", "moe"], "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64, "mamba_num_heads": 16, "mamba_head_dim": 64, "n_groups": 2, "ssm_state_size": 64, "n_routed_experts": 4, "moe_intermediate_size": 256, "moe_shared_expert_intermediate_size": 512, "moe_latent_size": 128, "mlp_bias": True, "vocab_size": 1000}),
    "granitemoehybrid-tiny": ("granitemoehybrid", {"hidden_size": 1024, "intermediate_size": 512, "shared_intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 16, "num_key_value_heads": 4, "num_local_experts": 8, "layer_types": ["mamba", "mamba", "attention", "mamba"], "mamba_n_heads": 32, "mamba_d_state": 64, "vocab_size": 1000}),
    "granitemoehybrid-dense": ("granitemoehybrid", {"hidden_size": 1024, "shared_intermediate_size": 2048, "num_hidden_layers": 4, "num_attention_heads": 16, "num_key_value_heads": 4, "num_local_experts": 0, "layer_types": ["mamba", "attention", "mamba", "attention"], "mamba_n_heads": 32, "mamba_d_state": 64, "vocab_size": 1000, "tie_word_embeddings": True}),
    "qwen3_next-80b-a3b": ("qwen3_next", {}),
    "qwen3_next-small": ("qwen3_next", {"hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 8, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 128, "linear_num_key_heads": 8, "linear_num_value_heads": 16, "linear_key_head_dim": 64, "linear_value_head_dim": 64, "num_experts": 16, "moe_intermediate_size": 256, "shared_expert_intermediate_size": 256, "mlp_only_layers": [0], "vocab_size": 1000}),
    "lfm2-1.2b": ("lfm2", {"hidden_size": 2048, "num_hidden_layers": 16, "full_attn_idxs": [2, 5, 8, 10, 12, 14], "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 65536, "intermediate_size": 12288}),
    "lfm2-no-ff-adjust": ("lfm2", {"hidden_size": 512, "num_hidden_layers": 4, "layer_types": ["conv", "full_attention", "conv", "conv"], "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000, "intermediate_size": 1536, "block_auto_adjust_ff_dim": False, "conv_bias": True, "conv_L_cache": 4}),
    # Mixture-of-experts decoders.
    "olmoe-small": ("olmoe", {"hidden_size": 1024, "intermediate_size": 512, "num_hidden_layers": 4, "num_attention_heads": 16, "num_experts": 16, "num_experts_per_tok": 4, "vocab_size": 1000}),
    "phimoe-biases": ("phimoe", {"hidden_size": 1024, "intermediate_size": 1536, "num_hidden_layers": 3, "num_attention_heads": 16, "num_key_value_heads": 4, "num_local_experts": 4, "attention_bias": True, "lm_head_bias": True, "vocab_size": 1000}),
    "glm4_moe-air": ("glm4_moe", {"num_hidden_layers": 46, "n_routed_experts": 128, "num_attention_heads": 96, "head_dim": 128, "hidden_size": 4096, "intermediate_size": 10944, "moe_intermediate_size": 1408, "attention_bias": True}),
    "glm4_moe-qk-norm-dense-first": ("glm4_moe", {"hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 4, "num_attention_heads": 16, "num_key_value_heads": 4, "moe_intermediate_size": 256, "n_routed_experts": 16, "n_shared_experts": 2, "first_k_dense_replace": 2, "use_qk_norm": True, "vocab_size": 1000}),
    "ernie4_5_moe-a3b": ("ernie4_5_moe", {"moe_layer_end_index": -1}),
    "ernie4_5_moe-interval": ("ernie4_5_moe", {"hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 6, "num_attention_heads": 8, "num_key_value_heads": 2, "moe_intermediate_size": 256, "moe_num_experts": 8, "moe_num_shared_experts": 1, "moe_layer_start_index": 1, "moe_layer_end_index": 4, "moe_layer_interval": 2, "use_bias": True, "vocab_size": 1000}),
    "minimax-small": ("minimax", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2, "num_local_experts": 4, "vocab_size": 1000, "layer_types": ["linear_attention", "linear_attention", "full_attention", "linear_attention"]}),
    # Configs as transformers saves them for Mamba-2-style layers: `"time_step_limit": [0.0, Infinity]`.
    "mamba2-time-step-limit": ("mamba2", {"hidden_size": 512, "num_hidden_layers": 2, "num_heads": 16, "head_dim": 64, "n_groups": 1, "state_size": 32, "vocab_size": 1000}),
    "bamba-time-step-limit": ("bamba", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2, "attn_layer_indices": [1], "mamba_n_heads": 16, "mamba_d_state": 32, "mamba_n_groups": 1, "vocab_size": 1000}),
    "falcon_h1-time-step-limit": ("falcon_h1", {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64, "mamba_d_ssm": 512, "mamba_n_heads": 8, "mamba_d_state": 32, "vocab_size": 1000}),
    "nemotron_h-time-step-limit": ("nemotron_h", {"hidden_size": 512, "hybrid_override_pattern": "M*-E", "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64, "mamba_num_heads": 8, "mamba_head_dim": 64, "n_groups": 1, "ssm_state_size": 32, "intermediate_size": 1024, "n_routed_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 128, "moe_shared_expert_intermediate_size": 256, "vocab_size": 1000}),
    "granitemoehybrid-time-step-limit": ("granitemoehybrid", {"hidden_size": 512, "intermediate_size": 256, "shared_intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "num_local_experts": 4, "num_experts_per_tok": 2, "layer_types": ["mamba", "attention"], "mamba_n_heads": 16, "mamba_d_state": 32, "vocab_size": 1000}),
    # GPT-Neo as transformers saves it: `attention_layers` beside `attention_types`, which rules.
    "gpt_neo-saved-attention-layers": ("gpt_neo", {"hidden_size": 256, "num_layers": 4, "num_heads": 8, "vocab_size": 1000, "attention_types": [[["global", "local"], 3]], "attention_layers": ["global", "local", "global", "local"]}),
    # Zamba2 with a saved `hybrid_layer_ids` that disagrees with `layers_block_type`: transformers
    # sizes the adapters by the saved list.
    "zamba2-stale-hybrid-layer-ids": ("zamba2", {"hidden_size": 256, "num_hidden_layers": 6, "layers_block_type": ["mamba", "hybrid", "mamba", "hybrid", "mamba", "hybrid"], "hybrid_layer_ids": [1, 3], "num_mem_blocks": 2, "num_attention_heads": 8, "n_mamba_heads": 8, "mamba_d_state": 16, "intermediate_size": 512, "vocab_size": 1000, "use_shared_attention_adapter": True, "adapter_rank": 8}),
    "gpt_neo-local-first": ("gpt_neo", {"hidden_size": 512, "num_layers": 4, "num_heads": 8, "intermediate_size": 1024, "attention_types": [[["local"], 3], [["global"], 1]], "vocab_size": 1000}),
}

ARCH = {
    "mixtral": "MixtralForCausalLM", "qwen2_moe": "Qwen2MoeForCausalLM", "qwen3_moe": "Qwen3MoeForCausalLM",
    "gemma3_text": "Gemma3ForCausalLM", "gemma3": "Gemma3ForConditionalGeneration", "gptj": "GPTJForCausalLM",
    "falcon": "FalconForCausalLM", "bloom": "BloomForCausalLM", "deepseek_v3": "DeepseekV3ForCausalLM",
    "granitemoe": "GraniteMoeForCausalLM", "starcoder2": "Starcoder2ForCausalLM", "stablelm": "StableLmForCausalLM",
    "cohere": "CohereForCausalLM", "mpt": "MptForCausalLM", "gpt_oss": "GptOssForCausalLM", "opt": "OPTForCausalLM",
    "llama4_text": "Llama4ForCausalLM", "gemma": "GemmaForCausalLM", "granite": "GraniteForCausalLM", "llama": "LlamaForCausalLM",
    "phi": "PhiForCausalLM", "persimmon": "PersimmonForCausalLM", "arcee": "ArceeForCausalLM", "apertus": "ApertusForCausalLM",
    "olmo3": "Olmo3ForCausalLM", "cohere2": "Cohere2ForCausalLM", "exaone4": "Exaone4ForCausalLM", "seed_oss": "SeedOssForCausalLM",
    "olmoe": "OlmoeForCausalLM", "phimoe": "PhimoeForCausalLM", "glm4_moe": "Glm4MoeForCausalLM", "ernie4_5_moe": "Ernie4_5_MoeForCausalLM",
    "minimax": "MiniMaxForCausalLM", "t5": "T5ForConditionalGeneration", "mamba": "MambaForCausalLM", "mamba2": "Mamba2ForCausalLM",
    "jamba": "JambaForCausalLM", "bamba": "BambaForCausalLM", "falcon_h1": "FalconH1ForCausalLM", "zamba2": "Zamba2ForCausalLM",
    "nemotron_h": "NemotronHForCausalLM", "granitemoehybrid": "GraniteMoeHybridForCausalLM", "qwen3_next": "Qwen3NextForCausalLM",
    "lfm2": "Lfm2ForCausalLM", "qwen2_vl": "Qwen2VLForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen3_vl": "Qwen3VLForConditionalGeneration", "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration",
    "mistral3": "Mistral3ForConditionalGeneration", "internvl": "InternVLForConditionalGeneration",
    "idefics3": "Idefics3ForConditionalGeneration", "paligemma": "PaliGemmaForConditionalGeneration",
    "ernie4_5": "Ernie4_5ForCausalLM", "gpt_bigcode": "GPTBigCodeForCausalLM", "codegen": "CodeGenForCausalLM", "gpt_neo": "GPTNeoForCausalLM",
}

KEEP_NULL = {"q_lora_rank"}

# Keys dropped from a written config, so that the older spelling it was made from is what a reader
# sees (a hybrid pattern string instead of the list transformers derives from it, attention layer
# indices instead of layer types).
# Configs written flat, as Qwen2-VL's and Qwen2.5-VL's on the Hub are: the text keys at the root.
FLAT = {"qwen2_vl-flat-tied"}

# Configs that keep their infinite defaults, written as Python's json writes them.
INFINITE = {"mamba2-time-step-limit", "bamba-time-step-limit", "falcon_h1-time-step-limit", "nemotron_h-time-step-limit", "granitemoehybrid-time-step-limit"}

DROP = {"nemotron_h-pattern": ["layers_block_type", "layer_types"], "lfm2-1.2b": ["layer_types"]}


def finite(v):
    """JSON has no Infinity: values holding one (Mamba-2's default `time_step_limit`) are left to the
    config class default, as `save_pretrained` (which writes only non-defaults) leaves them."""
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, (list, tuple)):
        return all(finite(x) for x in v)
    if isinstance(v, dict):
        return all(finite(x) for x in v.values())
    return True


def write_active():
    """transformers' active parameters for every MoE fixture config."""
    fixtures = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures"
    files = sorted(p for sub in ("configs", "written") for p in (fixtures / sub).glob("*.json") if p.name != "expected_counts.json" and not p.name.startswith("expected_"))
    tool = pathlib.Path(__file__).resolve().parent / "transformers_count.py"
    res = subprocess.run([sys.executable, str(tool), *map(str, files)], capture_output=True, text=True, check=True)
    active = {}
    for line in res.stdout.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if "error" in r:
            sys.exit(f"{r['file']}: {r['error']}")
        if "active" in r:
            key = str(pathlib.Path(r["file"]).relative_to(fixtures))
            active[key] = {"transformers_count": r["count"], "transformers_active": r["active"], "transformers_routed": r["routed"]}
    (fixtures / "written" / "expected_active.json").write_text(json.dumps(active, indent=1, sort_keys=True) + "\n")
    print(f"wrote the active parameters of {len(active)} MoE configs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(pathlib.Path(__file__).resolve().parents[1].parent / "shared"))
    ap.add_argument("--only", default=None)
    ap.add_argument("--active", action="store_true")
    args = ap.parse_args()
    if args.active:
        return write_active()
    only = set(args.only.split(",")) if args.only else None
    out = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "written"
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, (model_type, overrides) in CASES.items():
        if only is not None and name not in only:
            continue
        sub = {k: v for k, v in overrides.items() if isinstance(v, dict)}
        flat = {k: v for k, v in overrides.items() if not isinstance(v, dict)}
        cfg = AutoConfig.for_model(model_type, **flat, **sub)
        d = cfg.to_diff_dict() if sub else cfg.to_dict()
        d.update({k: v for k, v in flat.items()})
        d = {k: v for k, v in d.items() if (v is not None or k in KEEP_NULL) and (finite(v) or name in INFINITE)}
        for key in DROP.get(name, []):
            d.pop(key, None)
        if name in FLAT:
            for key, value in d.pop("text_config").items():
                if key != "model_type":
                    d.setdefault(key, value)
        d["model_type"] = model_type
        if not d.get("architectures"):
            d["architectures"] = [ARCH[model_type]]
        for key in ("transformers_version", "_name_or_path", "dtype"):
            d.pop(key, None)
        d["torch_dtype"] = "bfloat16"
        path = out / f"{name}.json"
        path.write_text(json.dumps(d, indent=2, sort_keys=True, default=str) + "\n")
        files.append(str(path))
    tool = pathlib.Path(__file__).resolve().parent / "transformers_count.py"
    res = subprocess.run([sys.executable, str(tool), *files], capture_output=True, text=True, check=True)
    expected = json.loads((out / "expected_counts.json").read_text()) if only is not None else {}
    for line in res.stdout.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        name = pathlib.Path(r["file"]).stem
        if "error" in r:
            sys.exit(f"{name}: {r['error']}")
        expected[name] = {"transformers_class": r["class"], "transformers_count": r["count"]}
    (out / "expected_counts.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(expected)} configs to {out}")


if __name__ == "__main__":
    main()
