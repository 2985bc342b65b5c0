//! Dynamic client registration metadata (RFC 7591 JSON bodies).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = tessera::oidc::registration::validate(&body);
    }
});
