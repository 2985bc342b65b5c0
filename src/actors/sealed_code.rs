//! Authorization codes that carry their own record (format 3).
//!
//! Up to format 2, issuing a code proposed `CreateCode`: one Raft entry and
//! an fsync on every node, to store a record that lives 60 s and is read
//! once. From format 3 on the code *is* its record, sealed (A256GCM with a
//! key derived from the cluster master key for this purpose alone, see
//! `crypto::seal`), so that only the cluster can read or make one; issuing
//! it writes nothing. Redeeming it proposes `RedeemCode` with the opened
//! record, and `apply` uses that record when none is stored under the
//! code's hash and stores the redeemed one there. Single use
//! (docs/ARCHITECTURE.md invariant 1), replay revocation and every check of
//! the redemption are therefore those of a stored code; a code that does not
//! open is refused without proposing, like an unknown one.
//!
//! A sealed code is a compact JWE (five base64url parts joined by dots), a
//! stored one 43 base64url characters: the dot tells them apart.

use crate::crypto::seal::SealKey;
use crate::state::CodeRecord;

/// The key codes are sealed with.
#[derive(Clone)]
pub struct CodeSeal(SealKey);

impl CodeSeal {
    pub fn new(master_key: &[u8; 32]) -> CodeSeal {
        CodeSeal(SealKey::derive(
            master_key,
            "tessera authorization codes v1",
        ))
    }

    /// The code for `record` (not yet redeemed).
    pub fn seal(&self, record: &CodeRecord) -> String {
        let json = serde_json::to_vec(record).expect("a code record serializes");
        self.0.seal(&json)
    }

    /// The record a sealed code carries; `None` if it was not sealed by
    /// this cluster, was altered, or claims to be redeemed already.
    pub fn open(&self, code: &str) -> Option<CodeRecord> {
        let json = self.0.open(code)?;
        serde_json::from_slice::<CodeRecord>(&json)
            .ok()
            .filter(|r| r.redeemed.is_none())
    }
}

/// Whether `code` is a sealed one (see the module doc).
pub fn is_sealed(code: &str) -> bool {
    code.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Authorization, Redemption};

    fn record() -> CodeRecord {
        CodeRecord {
            v: 1,
            grant: Authorization {
                client_id: "rp".into(),
                sub: "subject-in-the-clear".into(),
                sid: Some("s1".into()),
                scopes: vec!["openid".into()],
                auth_time: 1,
                nonce: Some("n".into()),
                claims: None,
                acr: None,
                family: None,
            },
            redirect_uri: "https://rp.example/cb".into(),
            code_challenge: Some("c".repeat(43)),
            expires_at: 100,
            redeemed: None,
        }
    }

    #[test]
    fn a_sealed_code_opens_to_its_record_and_hides_it() {
        let seal = CodeSeal::new(&[7; 32]);
        let code = seal.seal(&record());
        assert!(
            is_sealed(&code)
                && !code.contains("subject-in-the-clear")
                && !code.contains("rp.example")
        );
        assert_eq!(seal.open(&code), Some(record()));
        assert_ne!(seal.seal(&record()), code, "every code is new");
        assert!(!is_sealed(&crate::crypto::random_secret()));
    }

    #[test]
    fn a_code_of_another_cluster_an_altered_or_a_redeemed_one_does_not_open() {
        let seal = CodeSeal::new(&[7; 32]);
        let code = seal.seal(&record());
        assert_eq!(CodeSeal::new(&[8; 32]).open(&code), None);
        let mut altered = code.into_bytes();
        let i = altered.len() - 30;
        altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
        assert_eq!(seal.open(&String::from_utf8(altered).unwrap()), None);
        let mut redeemed = record();
        redeemed.redeemed = Some(Redemption {
            access_jti: "j".into(),
            access_exp: 1,
            family: None,
        });
        assert_eq!(seal.open(&seal.seal(&redeemed)), None);
        assert_eq!(seal.open("a.b.c.d.e"), None);
    }
}
