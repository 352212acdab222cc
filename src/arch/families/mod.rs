//! One module per architecture family.

pub mod bert;
pub mod gpt;
pub mod hybrid;
pub mod llama;
pub mod moe;
pub mod qwen_vl;
pub mod ssm;
pub mod t5;
pub mod vision;
