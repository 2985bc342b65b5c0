//! The admin API client used by the CLI (`tessera user|client|cluster ...`).
//!
//! It talks to one node's cluster port with the admin token (over https with
//! the node's certificate when the cluster runs `[cluster.tls]`). Any node will
//! do: writes are forwarded to the leader by the node itself.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::actors::directory::{CreateClient, CreateUser};
use crate::config::ClusterTls;
use crate::http::admin::{
    AddNode, ClientView, ClusterStatus, KeyView, LogoutOutcome, RotateKeys, SessionView, UserView,
};

pub struct AdminClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// A failed admin call: the HTTP status (if any) and the server's message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AdminCallError {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
}

impl AdminClient {
    /// A client for a cluster port without TLS.
    pub fn new(base: &str, token: &str) -> AdminClient {
        AdminClient::with_tls(base, token, None).expect("a plain HTTP client always builds")
    }

    /// A client that, with `tls`, speaks https with this node's certificate
    /// as identity and the cluster CA as the only root (`[cluster.tls]`).
    pub fn with_tls(
        base: &str,
        token: &str,
        tls: Option<&ClusterTls>,
    ) -> Result<AdminClient, String> {
        let builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
        let builder = match tls {
            Some(tls) => tls.client(builder)?,
            None => builder,
        };
        Ok(AdminClient {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http: builder.build().map_err(|e| e.to_string())?,
        })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, AdminCallError> {
        let res = self.send_raw(req).await?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        serde_json::from_value(body).map_err(|e| AdminCallError {
            status: Some(status.as_u16()),
            code: None,
            message: format!("unexpected answer: {e}"),
        })
    }

    /// Send with the admin token; a successful response, unread.
    async fn send_raw(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AdminCallError> {
        let res = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| AdminCallError {
                status: None,
                code: None,
                message: format!("cannot reach {}: {e}", self.base),
            })?;
        let status = res.status();
        if !status.is_success() {
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            return Err(AdminCallError {
                status: Some(status.as_u16()),
                code: body["error"].as_str().map(String::from),
                message: body["error_description"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| format!("the node answered {status}")),
            });
        }
        Ok(res)
    }

    fn post<B: Serialize>(&self, path: &str, body: &B) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).json(body)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base))
    }

    pub async fn create_user(&self, u: &CreateUser) -> Result<UserView, AdminCallError> {
        self.send(self.post("/admin/users", u)).await
    }

    pub async fn get_user(&self, username: &str) -> Result<UserView, AdminCallError> {
        self.send(self.get(&format!("/admin/users/{username}")))
            .await
    }

    pub async fn set_claims(
        &self,
        username: &str,
        claims: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<UserView, AdminCallError> {
        let url = format!("{}/admin/users/{username}/claims", self.base);
        self.send(self.http.patch(url).json(claims)).await
    }

    /// The live sessions of a user.
    pub async fn user_sessions(&self, username: &str) -> Result<Vec<SessionView>, AdminCallError> {
        self.send(self.get(&format!("/admin/users/{username}/sessions")))
            .await
    }

    /// End every session of a user (with back-channel logout).
    pub async fn logout_user(&self, username: &str) -> Result<LogoutOutcome, AdminCallError> {
        let path = format!("/admin/users/{username}/logout");
        self.send(self.post(&path, &serde_json::json!({}))).await
    }

    /// Disable (`true`) or enable again a user.
    pub async fn set_disabled(
        &self,
        username: &str,
        disabled: bool,
    ) -> Result<UserView, AdminCallError> {
        let action = if disabled { "disable" } else { "enable" };
        let path = format!("/admin/users/{username}/{action}");
        self.send(self.post(&path, &serde_json::json!({}))).await
    }

    pub async fn create_client(&self, c: &CreateClient) -> Result<ClientView, AdminCallError> {
        self.send(self.post("/admin/clients", c)).await
    }

    pub async fn get_client(&self, id: &str) -> Result<ClientView, AdminCallError> {
        self.send(self.get(&format!("/admin/clients/{id}"))).await
    }

    pub async fn keys(&self) -> Result<Vec<KeyView>, AdminCallError> {
        self.send(self.get("/admin/keys")).await
    }

    pub async fn rotate_keys(
        &self,
        alg: Option<String>,
    ) -> Result<serde_json::Value, AdminCallError> {
        self.send(self.post("/admin/keys/rotate", &RotateKeys { alg }))
            .await
    }

    pub async fn status(&self) -> Result<ClusterStatus, AdminCallError> {
        self.send(self.get("/admin/cluster/status")).await
    }

    pub async fn add_node(&self, n: &AddNode) -> Result<serde_json::Value, AdminCallError> {
        self.send(self.post("/admin/cluster/nodes", n)).await
    }

    pub async fn remove_node(&self, id: u64) -> Result<serde_json::Value, AdminCallError> {
        self.send(
            self.http
                .delete(format!("{}/admin/cluster/nodes/{id}", self.base)),
        )
        .await
    }

    /// `tessera backup`: the backup file, to be read in chunks. A large
    /// state may take longer than the other calls' 60 s: an hour here.
    pub async fn backup(&self) -> Result<reqwest::Response, AdminCallError> {
        let req = self
            .get("/admin/backup")
            .timeout(std::time::Duration::from_secs(3600));
        self.send_raw(req).await
    }
}
