//! Token requests: client authentication and grant parsing from any form
//! body and `Authorization` header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera::oidc::form::parse_pairs;
use tessera::oidc::token_request::{client_auth, parse_grant, unverified_claims};

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (std::str::from_utf8(&data[..i]).ok(), &data[i + 1..]),
        None => (None, data),
    };
    let Ok(pairs) = parse_pairs(body) else { return };
    let _ = client_auth(header, &pairs);
    let _ = parse_grant(&pairs);
    if let Some((_, v)) = pairs.iter().find(|(k, _)| k == "client_assertion") {
        let _ = unverified_claims(v);
    }
});
