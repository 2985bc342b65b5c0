//! Request-parameter helpers shared by the endpoints.
//!
//! Owns two RFC 6749 §3.1 / §3.2 rules that every endpoint applies the same
//! way: "parameters sent without a value MUST be treated as if they were
//! omitted from the request" and "request and response parameters MUST NOT
//! be included more than once". Also owns form-urlencoded decoding of one
//! component (RFC 6749 Appendix B, used for HTTP Basic client credentials,
//! §2.3.1) and appending parameters to a redirect URI's query (§3.1.2,
//! "MUST retain the query component").

use url::form_urlencoded;

use super::error::OAuthError;

/// The non-empty parameters of a request, in order.
#[derive(Debug, Clone)]
pub struct Params<'p> {
    pairs: Vec<(&'p str, &'p str)>,
}

impl<'p> Params<'p> {
    /// Keeps the pairs with a non-empty value (empty ones count as absent).
    pub fn new(pairs: &'p [(String, String)]) -> Self {
        Self {
            pairs: pairs
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        }
    }

    /// How many times `name` was given with a value.
    pub fn count(&self, name: &str) -> usize {
        self.pairs.iter().filter(|(k, _)| *k == name).count()
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    /// The value of `name` only if it was given exactly once.
    pub fn once(&self, name: &str) -> Option<&'p str> {
        (self.count(name) == 1).then(|| self.get(name)).flatten()
    }

    /// The first parameter name (by first appearance) given more than once.
    pub fn first_repeated(&self) -> Option<&'p str> {
        self.pairs
            .iter()
            .map(|(k, _)| *k)
            .find(|k| self.count(k) > 1)
    }

    /// `invalid_request` naming the first repeated parameter, if any.
    pub fn reject_repeated(&self) -> Result<(), OAuthError> {
        match self.first_repeated() {
            Some(k) => Err(OAuthError::invalid_request(format!(
                "parameter `{k}` is given more than once"
            ))),
            None => Ok(()),
        }
    }
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a
/// space and `%XX` a byte. A `%` not followed by two hex digits is kept as
/// is (as `url::form_urlencoded` does); invalid UTF-8 becomes U+FFFD.
pub fn decode_component(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex)) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: &u8) -> Option<u8> {
    (*c as char).to_digit(16).map(|d| d as u8)
}

/// Appends `pairs` to the query of `uri`, keeping the URI exactly as given
/// otherwise (no normalization: it was matched by exact string comparison)
/// and any existing query. Values are form-urlencoded. A fragment, which a
/// registered redirect URI never has, is dropped (RFC 6749 §3.1.2).
pub fn append_query(uri: &str, pairs: &[(String, String)]) -> String {
    let base = uri.split('#').next().unwrap_or(uri);
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    let encoded = ser.finish();
    if encoded.is_empty() {
        return base.to_string();
    }
    let sep = match base.find('?') {
        None => "?",
        Some(_) if base.ends_with('?') || base.ends_with('&') => "",
        Some(_) => "&",
    };
    format!("{base}{sep}{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_values_count_as_absent() {
        let p = pairs(&[("a", ""), ("a", "1"), ("b", "")]);
        let p = Params::new(&p);
        assert_eq!(p.count("a"), 1);
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.once("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.first_repeated(), None);
        assert!(p.reject_repeated().is_ok());
    }

    #[test]
    fn repeated_parameters_are_named() {
        let p = pairs(&[("x", "1"), ("b", "1"), ("c", "1"), ("b", "2"), ("x", "3")]);
        let p = Params::new(&p);
        assert_eq!(p.first_repeated(), Some("x"));
        assert_eq!(p.once("b"), None);
        assert_eq!(p.once("c"), Some("1"));
        let e = p.reject_repeated().unwrap_err();
        assert!(e.description.contains("`x`"));
    }

    #[test]
    fn decodes_form_components() {
        assert_eq!(decode_component("a+b%20c%2B%3A"), "a b c+:");
        assert_eq!(decode_component("100%"), "100%");
        assert_eq!(decode_component("%zz%4"), "%zz%4");
        assert_eq!(decode_component("%C3%A9"), "é");
        assert_eq!(decode_component("%FF"), "\u{FFFD}");
        assert_eq!(decode_component(""), "");
    }

    #[test]
    fn appends_to_query() {
        let p = pairs(&[("code", "a b&c"), ("state", "x=y")]);
        assert_eq!(
            append_query("https://rp.example/cb", &p),
            "https://rp.example/cb?code=a+b%26c&state=x%3Dy"
        );
        assert_eq!(
            append_query("https://rp.example/cb?foo=bar", &p),
            "https://rp.example/cb?foo=bar&code=a+b%26c&state=x%3Dy"
        );
        assert_eq!(
            append_query("https://rp.example/cb?", &p[..1]),
            "https://rp.example/cb?code=a+b%26c"
        );
        assert_eq!(
            append_query("com.example.app:/cb#frag", &p[..1]),
            "com.example.app:/cb?code=a+b%26c"
        );
        assert_eq!(
            append_query("https://rp.example/cb", &[]),
            "https://rp.example/cb"
        );
    }
}
