//! safetensors header parsing on arbitrary bytes: errors, never panics.
#![no_main]
use capcache::format::safetensors;
use libfuzzer_sys::fuzz_target;

/// The tensor cap the parser is given (a real run derives it from the model's budget).
const MAX_TENSORS: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let _ = safetensors::parse_prefix(data, data.len() as u64, MAX_TENSORS);
    let _ = safetensors::read_header(&data, 16, MAX_TENSORS);
    if let Ok(h) = safetensors::parse_header(data, data.len() as u64, MAX_TENSORS) {
        let _ = capcache::count::count(&h.tensors, Default::default());
    }
});
