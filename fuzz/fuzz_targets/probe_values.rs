#![no_main]

#[path = "../src/probe_entry.rs"]
mod probe_entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| probe_entry::probe_values(data));
