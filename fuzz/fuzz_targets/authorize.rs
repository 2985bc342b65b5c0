//! Authorization requests: any query string against one registered client.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera::oidc::authorize::{validate, ClientView};
use tessera::oidc::form::parse_pairs;

fuzz_target!(|data: &[u8]| {
    let Ok(pairs) = parse_pairs(data) else { return };
    let redirect_uris = vec!["https://rp.example/cb".to_string()];
    let grant_types = vec!["authorization_code".to_string()];
    let _ = validate(&pairs, |id| {
        (id == "rp").then_some(ClientView {
            client_id: "rp",
            redirect_uris: &redirect_uris,
            public: false,
            grant_types: &grant_types,
        })
    });
});
