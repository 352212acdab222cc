//! The bounded pickle reader and the checkpoint reader around it on arbitrary bytes: errors, never
//! panics, bounded time and memory.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = capcache::format::pickle::parse(data) {
        let _ = p.tensors();
    }
    let _ = capcache::format::pytorch::read(&data);
});
