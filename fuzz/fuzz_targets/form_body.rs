//! Form bodies and query strings: the pair count cap, decoding, and the
//! repeated-parameter check must return for any bytes, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera::oidc::form::{parse_pairs, split_list, Params};

fuzz_target!(|data: &[u8]| {
    if let Ok(pairs) = parse_pairs(data) {
        let p = Params::new(&pairs);
        let _ = p.reject_repeated();
        if let Some(scope) = p.get("scope") {
            let _ = split_list(scope);
        }
    }
});
