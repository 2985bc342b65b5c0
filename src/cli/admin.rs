//! The admin subcommands: each builds an [`AdminClient`] from `--config` or
//! `--url` + `TESSERA_ADMIN_TOKEN`, calls one admin API route and prints the
//! answer (JSON, or a table for `cluster status` and `keys list`).

use std::io::Read;
use std::process::ExitCode;

use super::{ClientCmd, ClusterCmd, KeysCmd, Target, UserCmd};
use crate::actors::directory::{CreateClient, CreateUser};
use crate::admin_client::{AdminCallError, AdminClient};
use crate::config::Config;
use crate::http::admin::AddNode;

/// A CLI failure and its exit code.
pub struct Failure(pub u8, pub String);

impl From<AdminCallError> for Failure {
    fn from(e: AdminCallError) -> Self {
        Failure(1, e.message)
    }
}

/// Run one admin command on a small runtime; its exit code.
pub fn run<F: std::future::Future<Output = Result<(), Failure>>>(
    f: impl FnOnce() -> F,
) -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(f()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
    }
}

pub(super) fn connect(t: &Target) -> Result<AdminClient, Failure> {
    if let Some(path) = &t.config {
        let c = Config::load(path).map_err(|e| Failure(2, format!("configuration error: {e}")))?;
        // With TLS, dial the address peers use (the certificate names it).
        let url = t.url.clone().unwrap_or_else(|| match &c.cluster_tls {
            Some(_) => match c.members.get(&c.node_id) {
                Some(m) => format!("https://{}", m.rpc_addr),
                None => format!("https://{}", c.rpc_listen),
            },
            None => format!("http://{}", c.rpc_listen),
        });
        return AdminClient::with_tls(&url, &c.admin_token, c.cluster_tls.as_ref())
            .map_err(|e| Failure(2, format!("configuration error: cluster TLS: {e}")));
    }
    let url = t.url.as_ref().ok_or_else(|| {
        Failure(
            2,
            "give --config FILE, or --url URL with TESSERA_ADMIN_TOKEN".into(),
        )
    })?;
    let token = t
        .token
        .as_ref()
        .ok_or_else(|| Failure(2, "set TESSERA_ADMIN_TOKEN (or --token) for --url".into()))?;
    Ok(AdminClient::new(url, token))
}

fn exists(e: &AdminCallError) -> bool {
    e.code.as_deref() == Some("already_exists")
}

fn print_json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).expect("json"));
}

pub async fn user(cmd: UserCmd) -> Result<(), Failure> {
    match cmd {
        UserCmd::Add {
            username,
            password_stdin: _,
            email,
            name,
            claims,
            exists_ok,
            target,
        } => {
            let api = connect(&target)?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| Failure(1, format!("cannot read the password from stdin: {e}")))?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            match api
                .create_user(&CreateUser {
                    username,
                    password,
                    email,
                    name,
                    claims: claims.into_iter().filter(|(_, v)| !v.is_null()).collect(),
                })
                .await
            {
                Ok(u) => print_json(&u),
                Err(e) if exists_ok && exists(&e) => println!("{}", e.message),
                Err(e) => return Err(e.into()),
            }
        }
        UserCmd::Get { username, target } => {
            print_json(&connect(&target)?.get_user(&username).await?)
        }
        UserCmd::Sessions { username, target } => {
            let sessions = connect(&target)?.user_sessions(&username).await?;
            println!("{:<24} {:<12} CLIENTS", "SID", "CREATED");
            for s in sessions {
                println!("{:<24} {:<12} {}", s.sid, s.created, s.clients.join(","));
            }
        }
        UserCmd::Logout { username, target } => {
            print_json(&connect(&target)?.logout_user(&username).await?)
        }
        UserCmd::SetClaims {
            username,
            claims,
            target,
        } => print_json(
            &connect(&target)?
                .set_claims(&username, &claims.into_iter().collect())
                .await?,
        ),
        UserCmd::Disable { username, target } => {
            print_json(&connect(&target)?.set_disabled(&username, true).await?)
        }
        UserCmd::Enable { username, target } => {
            print_json(&connect(&target)?.set_disabled(&username, false).await?)
        }
    }
    Ok(())
}

pub async fn client(cmd: ClientCmd) -> Result<(), Failure> {
    match cmd {
        ClientCmd::Add {
            id,
            secret,
            public: _,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            first_party,
            jwks_file,
            id_token_alg,
            scope,
            resource_server,
            backchannel_logout_uri,
            backchannel_logout_session_required,
            exists_ok,
            target,
        } => {
            let api = connect(&target)?;
            let jwks = match jwks_file {
                Some(p) => {
                    let text = std::fs::read_to_string(&p)
                        .map_err(|e| Failure(2, format!("cannot read {}: {e}", p.display())))?;
                    Some(serde_json::from_str(&text).map_err(|e| {
                        Failure(2, format!("{} is not a JWK Set: {e}", p.display()))
                    })?)
                }
                None => None,
            };
            let req = CreateClient {
                client_id: id,
                secret,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types,
                first_party,
                jwks,
                id_token_signed_response_alg: id_token_alg,
                scope,
                resource_server,
                backchannel_logout_uri,
                backchannel_logout_session_required,
                ..Default::default()
            };
            match api.create_client(&req).await {
                Ok(c) => print_json(&c),
                Err(e) if exists_ok && exists(&e) => println!("{}", e.message),
                Err(e) => return Err(e.into()),
            }
        }
        ClientCmd::Get { id, target } => print_json(&connect(&target)?.get_client(&id).await?),
    }
    Ok(())
}

pub async fn keys(cmd: KeysCmd) -> Result<(), Failure> {
    match cmd {
        KeysCmd::List { json, target } => {
            let keys = connect(&target)?.keys().await?;
            if json {
                print_json(&keys);
                return Ok(());
            }
            println!("{:<40} {:<6} {:<8} {:>10}", "KID", "ALG", "STATE", "AGE");
            for k in keys {
                println!(
                    "{:<40} {:<6} {:<8} {:>10}",
                    k.kid,
                    k.alg,
                    k.state,
                    human_age(k.age_secs)
                );
            }
        }
        KeysCmd::Rotate { alg, target } => print_json(&connect(&target)?.rotate_keys(alg).await?),
    }
    Ok(())
}

fn human_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

pub async fn cluster(cmd: ClusterCmd) -> Result<(), Failure> {
    match cmd {
        ClusterCmd::Status { json, target } => {
            let s = connect(&target)?.status().await?;
            if json {
                print_json(&s);
                return Ok(());
            }
            println!(
                "node {} ({}), version {}, term {}, leader {}, last log {}, applied {}",
                s.node_id,
                s.state,
                s.version,
                s.term,
                s.leader_id.map_or("none".into(), |l| l.to_string()),
                s.last_log_index.map_or("-".into(), |l| l.to_string()),
                s.last_applied.map_or("-".into(), |l| l.to_string()),
            );
            println!(
                "{:<4} {:<8} {:<7} {:<22} {:<22}",
                "ID", "ROLE", "LEADER", "HTTP", "RPC"
            );
            for m in s.members {
                let leader = if m.leader { "*" } else { "" };
                println!(
                    "{:<4} {:<8} {:<7} {:<22} {:<22}",
                    m.id, m.role, leader, m.http_addr, m.rpc_addr
                );
            }
        }
        ClusterCmd::AddNode {
            id,
            http_addr,
            rpc_addr,
            target,
        } => print_json(
            &connect(&target)?
                .add_node(&AddNode {
                    id,
                    http_addr,
                    rpc_addr,
                })
                .await?,
        ),
        ClusterCmd::RemoveNode { id, target } => {
            print_json(&connect(&target)?.remove_node(id).await?)
        }
    }
    Ok(())
}
