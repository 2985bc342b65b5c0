//! A scripted browser for the sign-in flow over plain HTTP: follows
//! `/authorize` to the login page, posts the form (keeping cookies), and
//! stops at the redirect back to the client. Each step may go to any node.

#![allow(dead_code)]

use std::sync::Arc;

use reqwest::cookie::Jar;
use reqwest::redirect::Policy;

/// A browser with its own cookie jar that never follows redirects.
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: Arc<Jar>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

/// What a step of the flow answered.
#[derive(Debug)]
pub enum Step {
    /// A page (login, consent or error) with its status and body.
    Page { status: u16, body: String },
    /// A redirect to `location`.
    Redirect { status: u16, location: String },
}

impl Step {
    pub fn location(&self) -> &str {
        match self {
            Step::Redirect { location, .. } => location,
            other => panic!("expected a redirect, got {other:?}"),
        }
    }
    pub fn body(&self) -> &str {
        match self {
            Step::Page { body, .. } => body,
            other => panic!("expected a page, got {other:?}"),
        }
    }
    /// A query parameter of the redirect location.
    pub fn param(&self, name: &str) -> Option<String> {
        let url = url::Url::parse(self.location()).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// The value of a hidden input in a page.
pub fn hidden(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(html_unescape(&body[start..end]))
}

/// Undo the HTML escaping of an attribute value.
pub fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    pub fn new() -> Browser {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .build()
            .unwrap();
        Browser { http, jar }
    }

    /// What a response answered, as a [`Step`].
    pub async fn step(res: reqwest::Response) -> Step {
        let status = res.status().as_u16();
        if (300..400).contains(&status) {
            let location = res.headers()["location"].to_str().unwrap().to_string();
            Step::Redirect { status, location }
        } else {
            Step::Page {
                status,
                body: res.text().await.unwrap(),
            }
        }
    }

    /// GET an authorize URL (on whatever node its host names).
    pub async fn get(&self, url: &str) -> Step {
        Self::step(self.http.get(url).send().await.unwrap()).await
    }

    /// Post the login form of `page` to `node_base` (e.g. http://127.0.0.1:8081).
    pub async fn login(
        &self,
        node_base: &str,
        page: &Step,
        username: &str,
        password: &str,
    ) -> Step {
        Self::step(
            self.login_response(node_base, page, username, password)
                .await,
        )
        .await
    }

    /// [`Self::login`], answering the response itself (to read its headers).
    pub async fn login_response(
        &self,
        node_base: &str,
        page: &Step,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let fields = [("username", username), ("password", password)];
        self.post(node_base, "login", page, &fields).await
    }

    /// Answer the consent page of `page` on `node_base`.
    pub async fn consent(&self, node_base: &str, page: &Step, allow: bool) -> Step {
        let decision = if allow { "allow" } else { "deny" };
        self.submit(node_base, "consent", page, &[("decision", decision)])
            .await
    }

    /// [`Self::post`], read into a [`Step`].
    async fn submit(
        &self,
        node_base: &str,
        action: &str,
        page: &Step,
        fields: &[(&str, &str)],
    ) -> Step {
        Self::step(self.post(node_base, action, page, fields).await).await
    }

    /// Post the form of the `action` page `page` (its `req` and `csrf`
    /// plus `fields`) to `{node_base}/{action}`.
    async fn post(
        &self,
        node_base: &str,
        action: &str,
        page: &Step,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let body = page.body();
        let hidden_field =
            |name: &str| hidden(body, name).unwrap_or_else(|| panic!("{action} page has {name}"));
        let mut form = vec![("req", hidden_field("req")), ("csrf", hidden_field("csrf"))];
        form.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
        self.http
            .post(format!("{node_base}/{action}"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }
}

/// PKCE pair (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = tessera::crypto::random_secret();
    let challenge = tessera::oidc::pkce::s256(&verifier);
    (verifier, challenge)
}

/// An authorize URL on `node_base` with the given parameters.
pub fn authorize_url(node_base: &str, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&format!("{node_base}/authorize")).unwrap();
    for (k, v) in params {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}
