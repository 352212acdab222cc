//! One module per architecture family.

pub mod bert;
pub mod gpt;
pub mod llama;
pub mod moe;
pub mod vision;
