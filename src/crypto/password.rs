//! argon2id for user passwords and client secrets.
//!
//! New hashes use argon2id, version 0x13, m=19456 KiB, t=2, p=1 — the OWASP
//! recommendation. A hash costs 25–35 ms of one core, so these functions only
//! run on the `PasswordActor`'s `SyncArbiter` threads, never on an HTTP
//! worker.
//!
//! Each thread hashes inside its own [`Scratch`]: the 19 MiB of argon2 blocks
//! are allocated once and reused while hashes keep coming. Allocating them
//! per hash (what `argon2::PasswordHasher` does) made the kernel map and zero
//! 19 MiB every time — with the fixed 1 MiB mmap threshold of glibc's
//! malloc, which the node used then, about 17 ms of system time per hash,
//! half again the hash itself, measured on this project's 2-core machine. [`hash`] and
//! [`verify`] take a scratch from a small pool (at most one per thread that
//! hashes at the same time) and put it back; so that an idle node does not
//! keep 19 MiB per password thread resident, a janitor thread started with
//! the pool frees the blocks of every scratch that did no hash for [`IDLE`]
//! and hands them back to the OS (`crate::memory::release_free_memory`).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Mutex, Once};

use subtle::ConstantTimeEq;

/// m (KiB), t, p of new hashes.
const M_COST: u32 = 19456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Output length of new hashes (the argon2 crate's default).
const OUTPUT_LEN: usize = 32;
/// The largest memory cost a stored hash may ask for (64 MiB): a stored PHC
/// string can never make a thread allocate more than this.
const MAX_M_COST: u32 = 64 * 1024;

/// How long a scratch keeps its blocks without a hash.
pub const IDLE: std::time::Duration = std::time::Duration::from_secs(5);

/// The argon2 working memory of one thread, reused from hash to hash.
#[derive(Default)]
pub struct Scratch {
    blocks: Vec<Block>,
    last_used: Option<std::time::Instant>,
}

/// Scratches not in use, most recently used last.
static POOL: Mutex<Vec<Scratch>> = Mutex::new(Vec::new());
static JANITOR: Once = Once::new();

/// Hash a secret into a PHC string with a fresh random salt.
pub fn hash(secret: &str) -> Result<String, String> {
    with_scratch(|s| s.hash(secret))
}

/// Check a secret against a PHC string; a malformed hash never verifies.
pub fn verify(secret: &str, phc: &str) -> bool {
    with_scratch(|s| s.verify(secret, phc))
}

fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    JANITOR.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("argon2-janitor".into())
            .spawn(|| loop {
                std::thread::sleep(IDLE);
                if release_idle() > 0 {
                    crate::memory::release_free_memory();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("argon2 memory janitor not started: {e}");
        }
    });
    let mut scratch = lock_pool().pop().unwrap_or_default();
    let out = f(&mut scratch);
    lock_pool().push(scratch);
    out
}

fn lock_pool() -> std::sync::MutexGuard<'static, Vec<Scratch>> {
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Free the blocks of every pooled scratch idle for [`IDLE`]; how many.
pub fn release_idle() -> usize {
    lock_pool()
        .iter_mut()
        .filter_map(|s| s.release_if_idle().then_some(()))
        .count()
}

impl Scratch {
    /// Free the blocks if no hash ran for [`IDLE`]; true if it freed them.
    pub fn release_if_idle(&mut self) -> bool {
        match self.last_used {
            Some(t) if t.elapsed() >= IDLE && !self.blocks.is_empty() => {
                self.blocks = Vec::new();
                true
            }
            _ => false,
        }
    }

    /// Hash `secret` with `params`, `algorithm` and `version` into `out`.
    fn run(
        &mut self,
        argon: &Argon2<'_>,
        blocks: usize,
        secret: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        if self.blocks.len() != blocks {
            self.blocks = vec![Block::default(); blocks];
        }
        self.last_used = Some(std::time::Instant::now());
        argon.hash_password_into_with_memory(secret, salt, out, &mut self.blocks)
    }

    /// Hash a secret into a PHC string with a fresh random salt.
    pub fn hash(&mut self, secret: &str) -> Result<String, String> {
        let params =
            Params::new(M_COST, T_COST, P_COST, Some(OUTPUT_LEN)).map_err(|e| e.to_string())?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_raw = salt
            .as_salt()
            .decode_b64(&mut salt_bytes)
            .map_err(|e| e.to_string())?;
        let mut out = [0u8; OUTPUT_LEN];
        self.run(
            &argon,
            params.block_count(),
            secret.as_bytes(),
            salt_raw,
            &mut out,
        )
        .map_err(|e| e.to_string())?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
        };
        Ok(phc.to_string())
    }

    /// Check a secret against a PHC string (any argon2 variant and the
    /// parameters it names, up to [`MAX_M_COST`]); a malformed hash never
    /// verifies.
    pub fn verify(&mut self, secret: &str, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from).transpose() {
            Ok(v) => v.unwrap_or_default(),
            Err(_) => return false,
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        if params.m_cost() > MAX_M_COST {
            return false;
        }
        let mut salt_bytes = [0u8; 64];
        let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let blocks = params.block_count();
        let argon = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        if self
            .run(&argon, blocks, secret.as_bytes(), salt_raw, &mut out)
            .is_err()
        {
            return false;
        }
        out.ct_eq(expected.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::Scratch;
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let mut s = Scratch::default();
        let h = s.hash("wonderland-42").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(s.verify("wonderland-42", &h));
        assert!(!s.verify("wonderland-43", &h));
        assert!(!s.verify("x", "not a hash"));
    }

    /// Hashes made here and by the argon2 crate's own API verify both ways:
    /// reusing the memory changes nothing in the result.
    #[test]
    fn agrees_with_the_argon2_crate() {
        let mut s = Scratch::default();
        let ours = s.hash("pw-1").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2::Argon2::default()
            .verify_password(b"pw-1", &parsed)
            .is_ok());
        let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
        let theirs = argon2::Argon2::default()
            .hash_password(b"pw-2", &salt)
            .unwrap()
            .to_string();
        assert!(s.verify("pw-2", &theirs));
        assert!(!s.verify("pw-1", &theirs));
        // Other parameters (argon2i, smaller m) in the same scratch.
        let small = argon2::Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw-3", &salt)
        .unwrap()
        .to_string();
        assert!(s.verify("pw-3", &small));
        assert!(s.verify("pw-1", &ours));
    }

    #[test]
    fn keeps_its_blocks_while_busy_and_frees_them_when_idle() {
        let mut s = Scratch::default();
        let h = s.hash("pw").unwrap();
        assert!(!s.release_if_idle(), "freed right after a hash");
        assert_eq!(s.blocks.len(), 19456);
        s.last_used = Some(std::time::Instant::now() - super::IDLE);
        assert!(s.release_if_idle());
        assert!(s.blocks.is_empty());
        assert!(s.verify("pw", &h), "hashes again after a release");
    }

    #[test]
    fn refuses_a_stored_hash_asking_for_too_much_memory() {
        let mut s = Scratch::default();
        let greedy = "$argon2id$v=19$m=1048576,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$2ldi4q2J2ehfyRRz9Ke1Yw1ZLlD0TUJnCk6YTmIdS4k";
        assert!(!s.verify("anything", greedy));
        assert!(s.blocks.is_empty(), "1 GiB of blocks was allocated");
    }
}
