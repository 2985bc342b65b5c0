//! `PasswordActor`: argon2id hashing and verification off the HTTP workers.
//!
//! It runs in a `SyncArbiter` with one thread per core, so a burst of logins
//! queues here instead of stalling request handling. The argon2 working
//! memory is reused between hashes and freed when idle (see
//! [`password`]).

use actix::{Actor, Handler, Message, SyncContext};

use crate::crypto::password;

#[derive(Default)]
pub struct PasswordActor;

impl Actor for PasswordActor {
    type Context = SyncContext<Self>;
}

/// Hash a secret; answers the PHC string.
#[derive(Message)]
#[rtype(result = "Result<String, String>")]
pub struct HashSecret(pub String);

/// Verify a secret against a PHC string.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct VerifySecret {
    pub secret: String,
    pub phc: String,
}

impl Handler<HashSecret> for PasswordActor {
    type Result = Result<String, String>;
    fn handle(&mut self, msg: HashSecret, _: &mut SyncContext<Self>) -> Self::Result {
        password::hash(&msg.0)
    }
}

impl Handler<VerifySecret> for PasswordActor {
    type Result = bool;
    fn handle(&mut self, msg: VerifySecret, _: &mut SyncContext<Self>) -> bool {
        password::verify(&msg.secret, &msg.phc)
    }
}
