//! Signing the tokens of a `/token` answer: the access token (RFC 9068), the
//! ID token for `openid` grants (OIDC Core §3.1.3.3) and the JSON response
//! (RFC 6749 §5.1).
//!
//! Tokens are signed on the HTTP worker with the published key set; what
//! they say comes from the exchange the actor answered ([`Issued`]): the
//! grant, the scopes, the access token's `jti` and the time of issue, so the
//! `jti` and expiry recorded in the state are the ones in the token. A token
//! request with a valid DPoP proof gets a DPoP-bound access token (RFC 9449
//! §6: `cnf.jkt` is the proof key's thumbprint) and `token_type: DPoP`.

use actix_web::http::header;
use actix_web::HttpResponse;
use serde_json::{Map, Value};

use super::error::TokenError;
use super::AppState;
use crate::actors::directory::ClientRecord;
use crate::actors::exchange::{Authorization, Issued};
use crate::crypto::jwt::{JwtError, KeySet};
use crate::metrics::METRICS;
use crate::oidc::claims::{self, ClaimsRequest, Target};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::tokens::{access_token_claims, id_token_claims, AccessTokenInput, IdTokenInput};

/// The grant type of a token request (RFC 6749 §4): its registered name is
/// also the metrics label of the tokens it issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }
}

/// What one token response is made of.
pub struct TokenSet<'a> {
    pub client: &'a ClientRecord,
    pub issued: &'a Issued,
    pub grant_type: GrantType,
    /// The DPoP key thumbprint to bind the access token to.
    pub jkt: Option<&'a str>,
}

impl TokenSet<'_> {
    fn grant(&self) -> &Authorization {
        &self.issued.grant
    }
    fn has_scope(&self, scope: &str) -> bool {
        self.issued.scopes.iter().any(|s| s == scope)
    }
    /// The `nonce` goes into the ID token of the code exchange only
    /// (OIDC Core §12.2: not into refreshed ID tokens).
    fn nonce(&self) -> Option<&str> {
        match self.grant_type {
            GrantType::AuthorizationCode => self.grant().nonce.as_deref(),
            _ => None,
        }
    }
}

/// Sign the access token (and the ID token for `openid` grants) of an
/// exchange and build the response.
pub fn issue(st: &AppState, set: &TokenSet) -> Result<Value, TokenError> {
    let keys = st.keys.get();
    let claims_req: Option<ClaimsRequest> = set
        .grant()
        .claims
        .as_ref()
        .and_then(|c| serde_json::from_value(c.clone()).ok());
    let access_token = sign_access_token(st, &keys, set, claims_req.as_ref())?;
    let id_token = if set.has_scope("openid") {
        Some(sign_id_token(
            st,
            &keys,
            set,
            &access_token,
            claims_req.as_ref(),
        )?)
    } else {
        None
    };
    let refresh_token = set.issued.refresh_token.clone();
    count(set.grant_type, "access_token");
    if id_token.is_some() {
        count(set.grant_type, "id_token");
    }
    if refresh_token.is_some() {
        count(set.grant_type, "refresh_token");
    }
    Ok(response(
        st,
        Issuance {
            access_token,
            scopes: &set.issued.scopes,
            id_token,
            refresh_token,
            dpop: set.jkt.is_some(),
        },
    ))
}

/// `client_credentials` (RFC 6749 §4.4): an access token for the client
/// itself; nothing is stored.
pub fn client_token(
    st: &AppState,
    client: &ClientRecord,
    scopes: &[String],
    jkt: Option<&str>,
) -> Result<Value, TokenError> {
    let issuer = st.issuer();
    let mut claims = access_token_claims(&AccessTokenInput {
        issuer: &issuer,
        sub: &client.client_id,
        client_id: &client.client_id,
        audience: &issuer,
        now: crate::clock::now(),
        lifetime: st.settings.access_token_lifetime,
        jti: &crate::crypto::random_id(),
        scopes,
        auth_time: None,
        sid: None,
    });
    bind(&mut claims, jkt);
    let access_token = sign(
        &st.keys.get(),
        &st.settings.access_token_alg,
        "at+jwt",
        claims,
    )?;
    count(GrantType::ClientCredentials, "access_token");
    let issuance = Issuance {
        access_token,
        scopes,
        id_token: None,
        refresh_token: None,
        dpop: jkt.is_some(),
    };
    Ok(response(st, issuance))
}

/// Bind access token claims to a DPoP key: `cnf.jkt` (RFC 9449 §6.1).
fn bind(claims: &mut Map<String, Value>, jkt: Option<&str>) {
    if let Some(jkt) = jkt {
        claims.insert("cnf".into(), serde_json::json!({ "jkt": jkt }));
    }
}

fn sign_access_token(
    st: &AppState,
    keys: &KeySet,
    set: &TokenSet,
    claims_req: Option<&ClaimsRequest>,
) -> Result<String, TokenError> {
    let issuer = st.issuer();
    let grant = set.grant();
    let mut claims = access_token_claims(&AccessTokenInput {
        issuer: &issuer,
        sub: &grant.sub,
        client_id: &set.client.client_id,
        audience: &issuer,
        now: set.issued.issued_at,
        lifetime: st.settings.access_token_lifetime,
        jti: &set.issued.access_jti,
        scopes: &set.issued.scopes,
        auth_time: Some(grant.auth_time),
        sid: grant.sid.as_deref(),
    });
    // Claims the RP asked for at userinfo through the `claims` parameter.
    if let Some(c) = claims_req.filter(|c| !c.userinfo.is_empty()) {
        let names = c.userinfo.keys().map(|k| Value::String(k.clone()));
        claims.insert("userinfo_claims".into(), Value::Array(names.collect()));
    }
    bind(&mut claims, set.jkt);
    sign(keys, &st.settings.access_token_alg, "at+jwt", claims)
}

fn sign_id_token(
    st: &AppState,
    keys: &KeySet,
    set: &TokenSet,
    access_token: &str,
    claims_req: Option<&ClaimsRequest>,
) -> Result<String, TokenError> {
    let grant = set.grant();
    let user = st.user_by_sub(&grant.sub).ok_or_else(|| {
        TokenError(OAuthError::new(
            ErrorCode::InvalidGrant,
            "the user no longer exists",
        ))
    })?;
    let extra = claims::select(
        &user.released_claims(),
        &set.issued.scopes,
        claims_req,
        Target::IdToken,
    );
    let alg = set.client.id_token_alg();
    let claims = id_token_claims(&IdTokenInput {
        issuer: &st.issuer(),
        sub: &grant.sub,
        client_id: &set.client.client_id,
        now: set.issued.issued_at,
        lifetime: st.settings.id_token_lifetime,
        auth_time: grant.auth_time,
        nonce: set.nonce(),
        access_token: Some(access_token),
        alg,
        sid: grant.sid.as_deref(),
        acr: grant.acr.as_deref(),
        amr: &["pwd"],
        extra,
    });
    sign(keys, alg, "JWT", claims)
}

/// Sign, or 503 if the keys are not ready (a node that just started).
fn sign(
    keys: &KeySet,
    alg: &str,
    typ: &str,
    claims: Map<String, Value>,
) -> Result<String, TokenError> {
    keys.sign(alg, typ, claims).map_err(|e: JwtError| {
        TokenError(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            format!("signing keys not ready: {e}"),
        ))
    })
}

fn count(grant_type: GrantType, token: &str) {
    METRICS
        .tokens_issued
        .with_label_values(&[grant_type.as_str(), token])
        .inc();
}

/// A JSON answer that must not be cached: tokens (RFC 6749 §5.1) and
/// introspection results (RFC 7662 §2.2).
pub fn no_store(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// What a successful token response carries.
struct Issuance<'a> {
    access_token: String,
    scopes: &'a [String],
    id_token: Option<String>,
    refresh_token: Option<String>,
    /// The access token is DPoP-bound (`token_type: DPoP`, RFC 9449 §5).
    dpop: bool,
}

/// The successful response (RFC 6749 §5.1).
fn response(st: &AppState, i: Issuance) -> Value {
    let Issuance {
        access_token,
        scopes,
        id_token,
        refresh_token,
        dpop,
    } = i;
    let mut res = Map::new();
    res.insert("access_token".into(), access_token.into());
    let token_type = if dpop { "DPoP" } else { "Bearer" };
    res.insert("token_type".into(), token_type.into());
    res.insert(
        "expires_in".into(),
        st.settings.access_token_lifetime.into(),
    );
    if !scopes.is_empty() {
        res.insert("scope".into(), scopes.join(" ").into());
    }
    if let Some(t) = id_token {
        res.insert("id_token".into(), t.into());
    }
    if let Some(t) = refresh_token {
        res.insert("refresh_token".into(), t.into());
    }
    Value::Object(res)
}
