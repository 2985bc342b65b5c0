//! The OIDC `claims` request parameter (a JSON object from the query string).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera::oidc::claims::{consent_claims, parse_claims_param, requested_acr, requested_sub};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(c) = parse_claims_param(s) {
            let _ = requested_acr(Some(&c));
            let _ = requested_sub(Some(&c));
            let _ = consent_claims(Some(&c), &["openid".to_string()]);
        }
    }
});
