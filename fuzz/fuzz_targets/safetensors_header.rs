//! safetensors header parsing on arbitrary bytes: errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = capcache::format::safetensors::parse_prefix(data, data.len() as u64);
    if let Ok(h) = capcache::format::safetensors::parse_header(data, None) {
        let _ = capcache::count::count(&h.tensors, Default::default());
    }
});
