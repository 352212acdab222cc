//! The zip record parsers on arbitrary bytes: errors, never panics.
#![no_main]
use capcache::format::zip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let size = data.len() as u64;
    let _ = zip::local_entry(data, 0);
    let _ = zip::eocd(data, size);
    let _ = zip::zip64_eocd(data, size);
    let _ = zip::find_entry(data, "data.pkl", size);
});
