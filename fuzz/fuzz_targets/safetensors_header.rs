//! safetensors header parsing on arbitrary bytes: errors, never panics.
#![no_main]
use capcache::format::safetensors;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = safetensors::parse_prefix(data, data.len() as u64);
    let _ = safetensors::read_header(&data, 16);
    if let Ok(h) = safetensors::parse_header(data, data.len() as u64) {
        let _ = capcache::count::count(&h.tensors, Default::default());
    }
});
