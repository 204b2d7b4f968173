//! Fuzzes HR file parsing (CSV and JSON) and the population checks: a malformed file must
//! be refused with problems, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_server::hr_file::{HrFormat, parse_all};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for format in [HrFormat::Csv, HrFormat::Json] {
        let (records, _) = parse_all(format, text);
        let _ = warden_core::hr::validate_population(&records);
    }
});
