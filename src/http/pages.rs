//! Server-rendered pages: the template engine (minijinja, templates embedded
//! at build time, HTML auto-escaped) and the security headers every page gets.
//!
//! Pages carry a strict Content-Security-Policy (no scripts, styles from
//! this origin only, forms may only post back here), `X-Frame-Options: DENY`,
//! `no-store` caching and `Referrer-Policy: no-referrer`, so a login page can
//! be neither framed nor cached nor leak the authorization request.

use std::sync::LazyLock;

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use minijinja::Environment;
use serde::Serialize;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, src) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("login.html", include_str!("../../templates/login.html")),
        ("consent.html", include_str!("../../templates/consent.html")),
        ("error.html", include_str!("../../templates/error.html")),
        (
            "form_post.html",
            include_str!("../../templates/form_post.html"),
        ),
        ("logout.html", include_str!("../../templates/logout.html")),
        (
            "logged_out.html",
            include_str!("../../templates/logged_out.html"),
        ),
        (
            "check_session.html",
            include_str!("../../templates/check_session.html"),
        ),
    ] {
        env.add_template(name, src).expect("templates parse");
    }
    env
});

const CSS: &str = include_str!("../../static/tessera.css");

/// Whether every page template is loaded (for `/readyz`).
pub fn templates_ready() -> bool {
    ENV.templates().count() > 0
}

/// Render a template without the page headers (the caller sets its own).
pub fn render_raw<S: Serialize>(name: &str, ctx: S) -> String {
    render(name, ctx)
}

fn render<S: Serialize>(name: &str, ctx: S) -> String {
    ENV.get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!("template {name}: {e}");
            "<!doctype html><title>Error</title><p>Internal error.</p>".into()
        })
}

/// An HTML page with the strict headers.
pub fn page<S: Serialize>(status: StatusCode, name: &str, ctx: S) -> HttpResponse {
    page_posting_to(status, name, ctx, None)
}

/// A CSP source for where a form on our page may end up: browsers apply
/// `form-action` to the redirect after a form post, so a page whose form may
/// redirect to the client must allow the client's origin (or custom scheme).
pub fn form_target(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => Some(format!("{}:", u.scheme())),
    }
}

/// A page whose forms post here and may then be redirected to `redirect`.
pub fn page_posting_to<S: Serialize>(
    status: StatusCode,
    name: &str,
    ctx: S,
    redirect: Option<&str>,
) -> HttpResponse {
    let extra = redirect
        .and_then(form_target)
        .map(|t| format!(" {t}"))
        .unwrap_or_default();
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{extra}; \
                 frame-ancestors 'none'; base-uri 'none'"
            ),
        ))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(render(name, ctx))
}

/// A 400 (or other) error page that never redirects.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    page(
        status,
        "error.html",
        minijinja::context! { lang => "en", title => title, message => message },
    )
}

/// OAuth 2.0 Form Post Response Mode: a page that posts `params` to `action`.
/// Its CSP allows exactly one inline script (by nonce) and posting to `action`.
pub fn form_post(action: &str, params: &[(String, String)]) -> HttpResponse {
    let nonce = crate::crypto::random_id();
    let origin = url::Url::parse(action)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "'none'".into());
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; form-action {origin}; \
                 frame-ancestors 'none'; base-uri 'none'"
            ),
        ))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(render(
            "form_post.html",
            minijinja::context! { action => action, params => params, nonce => nonce },
        ))
}

/// No icon: an empty answer instead of a 404 in every browser console.
pub async fn favicon() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .finish()
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(CSS)
}

/// A 302 to `location` that no cache keeps.
pub fn found(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_is_registered_and_renders() {
        for name in [
            "login.html",
            "consent.html",
            "error.html",
            "form_post.html",
            "logout.html",
            "logged_out.html",
            "check_session.html",
        ] {
            let out = super::ENV
                .get_template(name)
                .and_then(|t| t.render(minijinja::context! { lang => "en", params => Vec::<(String, String)>::new() }))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(out.contains("<html"), "{name}");
        }
        // Values are HTML-escaped.
        let out = super::ENV
            .get_template("error.html")
            .unwrap()
            .render(minijinja::context! { title => "<script>", message => "\"x\"" })
            .unwrap();
        assert!(!out.contains("<script>") && out.contains("&lt;script&gt;"));
    }
}
