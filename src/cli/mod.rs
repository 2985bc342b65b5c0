//! The `tessera` command line: `serve` runs a node; `user`, `client`,
//! `keys` and `cluster` call a node's admin API ([`admin`]); `backup`
//! copies the cluster's state to a file and `restore` seeds a new node's
//! data directory from one ([`backup`]). Exit codes: 0
//! success, 1 a failed operation, 2 bad configuration or usage.

pub mod admin;
pub mod backup;
pub mod certs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "An OpenID Connect Provider on a Raft cluster"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
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
        /// The public address of --dev (and its issuer's).
        #[arg(long, default_value = "127.0.0.1:8080", requires = "dev")]
        http_addr: String,
        /// The cluster port (admin API) of --dev.
        #[arg(long, default_value = "127.0.0.1:9080", requires = "dev")]
        rpc_addr: String,
        /// Start a new cluster: on the config's bootstrap_node, with empty
        /// data and no peer in an initialized cluster, initialize it. Give it
        /// once, on the first start; without it a node with empty data waits
        /// to be joined (--dev implies it).
        #[arg(long, conflicts_with = "dev")]
        bootstrap: bool,
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
    /// Copy the cluster's state to a backup file (through any node).
    Backup {
        /// The backup file to write (mode 0600, replaced atomically).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Seed this node's empty data directory from a backup (offline; run on
    /// every node of the new cluster before starting it).
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The node's cluster.toml (same issuer and master key as the backup's cluster).
        #[arg(long)]
        config: PathBuf,
    },
    /// Make a development CA and node certificates for `[cluster.tls]`.
    Certs {
        /// Directory for ca.pem, ca.key, nodeN.pem and nodeN.key.
        #[arg(long)]
        out: PathBuf,
        /// How many node certificates (node1 .. nodeN).
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        /// Names and addresses the nodes are dialled by (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "127.0.0.1,localhost")]
        hosts: Vec<String>,
    },
}

/// Which node to call and with what token.
#[derive(Args, Clone)]
pub struct Target {
    /// Read the node's cluster address and admin token from this cluster.toml.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// The node's cluster port, e.g. http://127.0.0.1:9081 (with TESSERA_ADMIN_TOKEN).
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// The admin token (for --url).
    #[arg(
        long,
        env = "TESSERA_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
}

#[derive(Subcommand)]
pub enum UserCmd {
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
    /// List a user's live sessions: sid, created, clients.
    Sessions {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        target: Target,
    },
    /// End every session of a user on every node (with back-channel logout).
    Logout {
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
    /// Disable a user: no sign-in, no silent sign-in with an existing
    /// session, no token for its codes and refresh tokens (needs every
    /// member upgraded to data format 2).
    Disable {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        target: Target,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        target: Target,
    },
}

/// `KEY=VALUE`; VALUE is JSON if it parses as JSON, else a string; empty = remove.
fn parse_claim(s: &str) -> Result<(String, serde_json::Value), String> {
    let (k, v) = s.split_once('=').ok_or("expected KEY=VALUE")?;
    if !crate::oidc::claims::STANDARD_CLAIMS.contains(&k) {
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
pub enum ClientCmd {
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
        /// Comma-separated scopes `client_credentials` may issue to it.
        #[arg(long, value_delimiter = ',')]
        scope: Option<Vec<String>>,
        /// A resource server: may introspect every access token.
        #[arg(long)]
        resource_server: bool,
        /// Where back-channel logout tokens are POSTed (https).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// The client requires `sid` in logout tokens.
        #[arg(long, requires = "backchannel_logout_uri")]
        backchannel_logout_session_required: bool,
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
pub enum KeysCmd {
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
pub enum ClusterCmd {
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

/// Parse the command line and run it; the process exit code.
pub fn main() -> ExitCode {
    crate::audit::init_tracing();
    let code = run(Cli::parse());
    crate::audit::flush();
    code
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Cmd::Serve {
            config,
            dev,
            data_dir,
            http_addr,
            rpc_addr,
            bootstrap,
        } => {
            let config = if dev {
                Source::Dev {
                    data_dir,
                    http_addr,
                    rpc_addr,
                }
            } else {
                Source::File(config.expect("clap requires --config"))
            };
            serve(config, bootstrap || dev)
        }
        Cmd::User { cmd } => admin::run(|| admin::user(cmd)),
        Cmd::Client { cmd } => admin::run(|| admin::client(cmd)),
        Cmd::Keys { cmd } => admin::run(|| admin::keys(cmd)),
        Cmd::Cluster { cmd } => admin::run(|| admin::cluster(cmd)),
        Cmd::Backup { out, target } => admin::run(|| backup::backup(out, target)),
        Cmd::Restore { from, config } => backup::restore(&from, &config),
        Cmd::Certs { out, nodes, hosts } => match certs::generate(&out, nodes, &hosts) {
            Ok(()) => {
                println!(
                    "wrote the cluster CA and {nodes} node certificates to {}",
                    out.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}

/// Where `serve` gets its configuration.
enum Source {
    File(PathBuf),
    Dev {
        data_dir: PathBuf,
        http_addr: String,
        rpc_addr: String,
    },
}

fn serve(source: Source, bootstrap: bool) -> ExitCode {
    let config = match source {
        Source::Dev {
            data_dir,
            http_addr,
            rpc_addr,
        } => match Config::dev_on(&data_dir, &http_addr, &rpc_addr) {
            Ok(c) => {
                println!(
                    "tessera --dev: issuer {}, data in {}",
                    crate::oidc::discovery::issuer_string(&c.issuer),
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
        },
        Source::File(path) => match Config::load(&path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("configuration error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match crate::node::run(config, bootstrap) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
