//! The config path on arbitrary bytes: JSON -> the config strategy's estimate, the architecture
//! block and the KV-cache facts. Errors, never panics or hangs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let _ = capcache::arch::estimate(&config);
    if let Ok(a) = capcache::arch::info::architecture(&config) {
        for dtype in ["BF16", "F32", "Q4_K"] {
            let _ = capcache::arch::info::kv_cache_bytes_per_token(&a, dtype);
        }
    }
});
