//! Fuzzes the parsing of presented bearer tokens and user names: any input from the
//! network must be refused or accepted without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = warden_core::credential::PresentedToken::parse(text);
        let _ = warden_core::Username::parse(text);
        let _ = warden_core::ScopeSet::from_wire(text);
    }
});
