//! Request ids and the audit span: the outermost middleware of both servers.
//!
//! Every request gets an id: the caller's `X-Request-Id` if it is sane (1 to
//! 64 characters of `A-Z a-z 0-9 - _ . :`), else a fresh random one. It is
//! kept in the request's extensions ([`RequestId`]), sent back in the
//! response's `X-Request-Id`, and carried by a `tracing` span (target
//! [`crate::audit::TARGET`], with the source address) around the handler,
//! so that every audit line of the request names it (see [`crate::audit`]).
//! On the cluster port, every `/admin/` call is audited here, once, with
//! what was asked (method and route), by whom (the admin token holder, or
//! nobody if the token was wrong) and from where.

use std::net::IpAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing::Instrument;

/// The header that carries the id, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// The caller's id if sane, else a new random one.
    pub fn of(given: Option<&HeaderValue>) -> RequestId {
        let sane = |s: &&str| {
            (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        };
        match given.and_then(|v| v.to_str().ok()).filter(sane) {
            Some(id) => RequestId(id.to_string()),
            None => RequestId(crate::crypto::random_id()),
        }
    }
}

/// Middleware of the public server (`middleware::from_fn`); the source
/// address is the one the login throttle counts.
pub async fn public(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ip = super::login::source_ip(req.request());
    tagged(req, next, ip).await
}

/// Middleware of the cluster port: the TCP peer is the source address.
pub async fn cluster(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ip = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    tagged(req, next, ip).await
}

async fn tagged(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    ip: IpAddr,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = RequestId::of(req.headers().get(&HEADER));
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(target: "audit", "request", request_id = %id.0, ip = %ip);
    let admin = req.path().starts_with("/admin/").then(|| {
        let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
        (format!("{} {route}", req.method()), req.path().to_string())
    });
    // (An error from the inner services, rather than an error response,
    // goes on as is: the request cannot be kept to build a response here,
    // routing needs it unshared. Handlers answer with responses.)
    let res = next
        .call(req)
        .instrument(span.clone())
        .await?
        .map_into_boxed_body();
    if let Some((action, path)) = admin {
        let status = res.status();
        let (actor, outcome) = match status.as_u16() {
            401 => ("none", "refused"),
            s if s < 400 => ("admin-token", "success"),
            _ => ("admin-token", "failure"),
        };
        span.in_scope(|| {
            tracing::info!(target: "audit", event = "admin", outcome, actor, action, path, status = status.as_u16());
        });
    }
    let mut res = res;
    if let Ok(v) = HeaderValue::from_str(&id.0) {
        res.headers_mut().insert(HEADER, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_caller_id_is_kept_anything_else_replaced() {
        let of = |s: &str| RequestId::of(Some(&HeaderValue::from_str(s).unwrap())).0;
        assert_eq!(of("abc-123_X.y:z"), "abc-123_X.y:z");
        for bad in ["", "a b", "a\"b", "é", &"x".repeat(65), "a/b", "<script>"] {
            let Ok(v) = HeaderValue::from_str(bad) else {
                continue;
            };
            let got = RequestId::of(Some(&v)).0;
            assert_ne!(got, bad);
            assert_eq!(got.len(), 22, "{got}");
        }
        assert_eq!(RequestId::of(None).0.len(), 22);
    }
}
