//! The bounds on `config.json` values, in one place (the README's "Config limits" lists them).
//! They are generous for any real model and small enough that the products the families form stay
//! far from 64 bits in most cases; every product is checked anyway ([`super::checked`]).

/// Layers, layer indices and layer steps.
pub const LAYERS: u64 = 1 << 10;
/// Hidden sizes, head dimensions, low ranks, state-space and convolution sizes.
pub const WIDTH: u64 = 1 << 20;
/// MLP and expert widths.
pub const INTERMEDIATE: u64 = 1 << 22;
/// Attention, key/value and state-space heads, groups.
pub const HEADS: u64 = 1 << 16;
/// Experts, experts per token, shared experts.
pub const EXPERTS: u64 = 1 << 16;
/// Vocabulary sizes.
pub const VOCAB: u64 = 1 << 24;
/// Positions, sliding windows and attention chunks.
pub const POSITIONS: u64 = 1 << 32;
/// Image and patch sizes, channels, spatial and temporal merge factors.
pub const IMAGE: u64 = 1 << 16;
/// Quantization bits.
pub const BITS: u64 = 64;
/// Quantization block and group sizes.
pub const BLOCK: u64 = 1 << 20;
/// Any other integer a family reads (label counts, type vocabularies, ...).
pub const OTHER: u64 = 1 << 32;
/// Entries of a list (`mlp_only_layers`, `layer_types`, ...) and characters of a pattern string.
pub const LIST_LEN: usize = 1 << 14;
/// Characters of an offending value quoted in an error.
pub const SHOWN: usize = 48;

/// The accepted range of one key, and what it measures (for the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub min: u64,
    pub max: u64,
    pub what: &'static str,
}

const fn limit(min: u64, max: u64, what: &'static str) -> Limit {
    Limit { min, max, what }
}

/// The range of the integer config key `key` (whatever sub-config it is in).
pub fn of(key: &str) -> Limit {
    match key {
        "num_hidden_layers"
        | "n_layer"
        | "n_layers"
        | "num_layers"
        | "num_decoder_layers"
        | "depth"
        | "first_k_dense_replace"
        | "max_window_layers"
        | "mlp_only_layers"
        | "moe_layers"
        | "no_rope_layers"
        | "full_attn_idxs"
        | "attn_layer_indices"
        | "moe_layer_start_index"
        | "moe_layer_end_index"
        | "num_mem_blocks" => limit(0, LAYERS, "layer counts and indices"),
        "decoder_sparse_step"
        | "interleave_moe_layer_step"
        | "moe_layer_interval"
        | "full_attention_interval"
        | "no_rope_layer_interval"
        | "attn_layer_period"
        | "attn_layer_offset"
        | "expert_layer_period"
        | "expert_layer_offset"
        | "sliding_window_pattern" => limit(1, LAYERS, "layer steps"),
        "num_attention_heads"
        | "n_head"
        | "n_heads"
        | "num_heads"
        | "num_key_value_heads"
        | "num_kv_heads"
        | "n_head_kv"
        | "linear_num_key_heads"
        | "linear_num_value_heads"
        | "mamba_n_heads"
        | "mamba_num_heads"
        | "n_mamba_heads" => limit(1, HEADS, "head counts"),
        "n_groups" | "mamba_n_groups" | "mamba_ngroups" => limit(1, HEADS, "group counts"),
        "num_local_experts"
        | "num_experts"
        | "n_routed_experts"
        | "moe_num_experts"
        | "num_experts_per_tok"
        | "num_experts_per_token"
        | "moe_top_k"
        | "moe_k"
        | "n_shared_experts"
        | "moe_num_shared_experts" => limit(0, EXPERTS, "expert counts"),
        "hidden_size"
        | "n_embd"
        | "n_embed"
        | "d_model"
        | "d_kv"
        | "embed_dim"
        | "head_dim"
        | "word_embed_proj_dim"
        | "kv_lora_rank"
        | "q_lora_rank"
        | "qk_rope_head_dim"
        | "qk_nope_head_dim"
        | "v_head_dim"
        | "moe_latent_size"
        | "adapter_rank"
        | "projection_dim"
        | "projector_input_dim"
        | "projector_output_dim"
        | "vision_output_dim"
        | "state_size"
        | "ssm_state_size"
        | "mamba_d_state"
        | "conv_kernel"
        | "mamba_d_conv"
        | "conv_L_cache"
        | "linear_conv_kernel_dim"
        | "mamba_d_head"
        | "mamba_head_dim"
        | "linear_key_head_dim"
        | "linear_value_head_dim"
        | "time_step_rank"
        | "mamba_dt_rank"
        | "expand"
        | "mamba_expand"
        | "block_multiple_of" => limit(0, WIDTH, "widths"),
        "intermediate_size"
        | "ffn_dim"
        | "n_inner"
        | "d_ff"
        | "ffn_hidden_size"
        | "moe_intermediate_size"
        | "shared_expert_intermediate_size"
        | "moe_shared_expert_intermediate_size"
        | "shared_intermediate_size"
        | "intermediate_size_mlp"
        | "block_ff_dim"
        | "mamba_d_ssm" => limit(0, INTERMEDIATE, "intermediate sizes"),
        "vocab_size" => limit(0, VOCAB, "vocabulary sizes"),
        "max_position_embeddings"
        | "n_positions"
        | "max_seq_len"
        | "sliding_window"
        | "attention_chunk_size"
        | "window_size"
        | "num_position_embeddings" => limit(0, POSITIONS, "positions and windows"),
        "image_size"
        | "patch_size"
        | "num_channels"
        | "in_channels"
        | "spatial_merge_size"
        | "temporal_patch_size"
        | "scale_factor" => limit(1, IMAGE, "image sizes"),
        "bits" | "w_bit" | "weight_bits" | "num_bits" => limit(1, BITS, "quantization bits"),
        "weight_block_size" | "group_size" | "q_group_size" => limit(1, BLOCK, "quantization block sizes"),
        _ => limit(0, OTHER, "config integers"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fall_into_their_groups() {
        assert_eq!(of("num_hidden_layers").max, LAYERS);
        assert_eq!(of("num_key_value_heads").min, 1);
        assert_eq!(of("weight_block_size").min, 1);
        assert_eq!(of("something_else"), limit(0, OTHER, "config integers"));
    }
}
