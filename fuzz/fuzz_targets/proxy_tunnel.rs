#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keepalive_connector_fuzz::proxy_tunnel(data));
