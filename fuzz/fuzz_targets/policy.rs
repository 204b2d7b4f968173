//! Fuzzes the policy compiler: any file text must compile or give errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_core::policy::{PolicySource, compile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = compile(&[PolicySource { path: "fuzz.toml".to_owned(), text: text.to_owned() }]);
});
