//! The config path on arbitrary bytes: JSON -> the config strategy's estimate, the architecture
//! block and the KV-cache and state facts. Errors, never panics or hangs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let _ = capcache::arch::estimate(&config);
    let _ = capcache::arch::info::config_dtype(&config);
    if let Ok(d) = capcache::arch::info::describe(&config) {
        for dtype in ["BF16", "F32", "Q4_K"] {
            let _ = capcache::arch::info::capacity(&d.architecture, d.state_elements_per_sequence, dtype);
        }
    }
});
