#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keepalive_connector_fuzz::uri_and_config(data));
