//! The `tessera` command: `serve` runs a node; `user`, `client` and `cluster`
//! call a node's admin API. Exit codes: 0 success, 1 a failed operation,
//! 2 bad configuration or usage.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tessera::actors::directory::{CreateClient, CreateUser};
use tessera::admin_client::{AdminCallError, AdminClient};
use tessera::config::Config;
use tessera::http::admin::AddNode;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "An OpenID Connect Provider on a Raft cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a node.
    Serve {
        /// The node's cluster.toml.
        #[arg(long, required_unless_present = "dev", conflicts_with = "dev")]
        config: Option<PathBuf>,
        /// One node with demo data in ./tessera-data, issuer http://127.0.0.1:8080.
        #[arg(long)]
        dev: bool,
        /// Data directory for --dev.
        #[arg(long, default_value = "tessera-data", requires = "dev")]
        data_dir: PathBuf,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Manage clients (relying parties).
    Client {
        #[command(subcommand)]
        cmd: ClientCmd,
    },
    /// Signing keys: list them, start a rotation.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// Inspect and change cluster membership.
    Cluster {
        #[command(subcommand)]
        cmd: ClusterCmd,
    },
}

/// Which node to call and with what token.
#[derive(Args, Clone)]
struct Target {
    /// Read the node's cluster address and admin token from this cluster.toml.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The node's cluster port, e.g. http://127.0.0.1:9081 (with TESSERA_ADMIN_TOKEN).
    #[arg(long, global = true)]
    url: Option<String>,
    /// The admin token (for --url).
    #[arg(
        long,
        env = "TESSERA_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// A standard claim, e.g. --claim given_name=Alice --claim email_verified=true
        /// (values that parse as JSON are stored as JSON).
        #[arg(long = "claim", value_parser = parse_claim)]
        claims: Vec<(String, serde_json::Value)>,
        /// Succeed if the user already exists.
        #[arg(long)]
        exists_ok: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Show a user.
    Get {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        target: Target,
    },
    /// Set (or with an empty value, remove) standard claims of a user.
    SetClaims {
        #[arg(long)]
        username: String,
        #[arg(long = "claim", value_parser = parse_claim, required = true)]
        claims: Vec<(String, serde_json::Value)>,
        #[command(flatten)]
        target: Target,
    },
}

/// `KEY=VALUE`; VALUE is JSON if it parses as JSON, else a string; empty = remove.
fn parse_claim(s: &str) -> Result<(String, serde_json::Value), String> {
    let (k, v) = s.split_once('=').ok_or("expected KEY=VALUE")?;
    if !tessera::oidc::claims::STANDARD_CLAIMS.contains(&k) {
        return Err(format!(
            "`{k}` is not a standard claim (OpenID Connect Core §5.1)"
        ));
    }
    let value = if v.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()))
    };
    Ok((k.to_string(), value))
}

#[derive(Subcommand)]
enum ClientCmd {
    /// Add a client.
    Add {
        #[arg(long)]
        id: String,
        #[arg(long, required_unless_present_any = ["public", "jwks_file"], conflicts_with = "public")]
        secret: Option<String>,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        #[arg(long = "redirect-uri", num_args = 1..)]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri", num_args = 1..)]
        post_logout_redirect_uris: Vec<String>,
        /// Comma-separated grant types.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "authorization_code,refresh_token"
        )]
        grant_types: Vec<String>,
        /// Skip the consent page for this client.
        #[arg(long)]
        first_party: bool,
        /// A JWK Set file with the client's public keys (enables private_key_jwt).
        #[arg(long)]
        jwks_file: Option<PathBuf>,
        /// ID token signing algorithm: RS256 (default) or ES256.
        #[arg(long)]
        id_token_alg: Option<String>,
        /// Succeed if the client already exists.
        #[arg(long)]
        exists_ok: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Show a client.
    Get {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Each key's algorithm, state (next, current, retired) and age.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Publish a new key now; it starts signing after the publish interval.
    Rotate {
        /// RS256, ES256 or EdDSA (default: every configured algorithm).
        #[arg(long)]
        alg: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// Members, roles, leader and log positions.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Add a node (it must be running with the same cluster secret).
    AddNode {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        http_addr: String,
        #[arg(long)]
        rpc_addr: String,
        #[command(flatten)]
        target: Target,
    },
    /// Remove a node from the cluster.
    RemoveNode {
        #[arg(long)]
        id: u64,
        #[command(flatten)]
        target: Target,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
                .unwrap_or_else(|_| "info,openraft=warn,actix_server=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Cmd::Serve {
            config,
            dev,
            data_dir,
        } => serve(config, dev, data_dir),
        Cmd::User { cmd } => admin(|rt| rt.block_on(user(cmd))),
        Cmd::Client { cmd } => admin(|rt| rt.block_on(client(cmd))),
        Cmd::Keys { cmd } => admin(|rt| rt.block_on(keys(cmd))),
        Cmd::Cluster { cmd } => admin(|rt| rt.block_on(cluster(cmd))),
    }
}

fn serve(config: Option<PathBuf>, dev: bool, data_dir: PathBuf) -> ExitCode {
    let config = if dev {
        match Config::dev(&data_dir) {
            Ok(c) => {
                println!(
                    "tessera --dev: issuer {}, data in {}",
                    tessera::oidc::discovery::issuer_string(&c.issuer),
                    data_dir.display()
                );
                println!(
                    "admin API http://{} (token in {}/dev-secrets.toml)",
                    c.rpc_listen,
                    data_dir.display()
                );
                c
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        }
    } else {
        match Config::load(&config.expect("clap requires --config")) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("configuration error: {e}");
                return ExitCode::from(2);
            }
        }
    };
    match tessera::node::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// A CLI failure and its exit code.
struct Failure(u8, String);

impl From<AdminCallError> for Failure {
    fn from(e: AdminCallError) -> Self {
        Failure(1, e.message)
    }
}

fn admin(f: impl FnOnce(&tokio::runtime::Runtime) -> Result<(), Failure>) -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match f(&rt) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
    }
}

fn connect(t: &Target) -> Result<AdminClient, Failure> {
    if let Some(path) = &t.config {
        let c = Config::load(path).map_err(|e| Failure(2, format!("configuration error: {e}")))?;
        let url = t
            .url
            .clone()
            .unwrap_or_else(|| format!("http://{}", c.rpc_listen));
        return Ok(AdminClient::new(&url, &c.admin_token));
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

async fn user(cmd: UserCmd) -> Result<(), Failure> {
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
        UserCmd::SetClaims {
            username,
            claims,
            target,
        } => print_json(
            &connect(&target)?
                .set_claims(&username, &claims.into_iter().collect())
                .await?,
        ),
    }
    Ok(())
}

async fn client(cmd: ClientCmd) -> Result<(), Failure> {
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

async fn keys(cmd: KeysCmd) -> Result<(), Failure> {
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

async fn cluster(cmd: ClusterCmd) -> Result<(), Failure> {
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
