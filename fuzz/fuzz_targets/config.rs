//! Fuzzes configuration parsing: a broken file must be an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = warden_server::Config::from_toml(text, std::path::Path::new("fuzz.toml"), Vec::new());
    }
});
