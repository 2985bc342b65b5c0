//! Request-parameter helpers shared by the endpoints.
//!
//! Owns two RFC 6749 §3.1 / §3.2 rules that every endpoint applies the same
//! way: "parameters sent without a value MUST be treated as if they were
//! omitted from the request" and "request and response parameters MUST NOT
//! be included more than once". Also owns form-urlencoded decoding of one
//! component (RFC 6749 Appendix B, used for HTTP Basic client credentials,
//! §2.3.1) and appending parameters to a redirect URI's query (§3.1.2,
//! "MUST retain the query component").
//!
//! These checks run before any authentication, so each is linear in the
//! size of the request and a request may carry at most [`MAX_PARAMS`]
//! pairs: [`parse_pairs`] refuses more before decoding any of them.

use std::collections::{HashMap, HashSet};

use url::form_urlencoded;

use super::error::OAuthError;

/// The most pairs a form body or query string may carry. Every endpoint
/// needs fewer than twenty; the cap bounds the work done for a request
/// before its client or user is authenticated.
pub const MAX_PARAMS: usize = 100;

/// `invalid_request`: more than [`MAX_PARAMS`] pairs.
pub fn too_many_parameters() -> OAuthError {
    OAuthError::invalid_request(format!("too many parameters (at most {MAX_PARAMS})"))
}

/// Decodes an `application/x-www-form-urlencoded` body or query string into
/// its pairs, in order, refusing more than [`MAX_PARAMS`] pairs with
/// `invalid_request` after one scan of the bytes and before decoding
/// anything. Pairs are counted as [`form_urlencoded::parse`] yields them
/// (`&`-separated, empty segments skipped).
pub fn parse_pairs(input: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let given = input
        .split(|b| *b == b'&')
        .filter(|s| !s.is_empty())
        .count();
    if given > MAX_PARAMS {
        return Err(too_many_parameters());
    }
    Ok(form_urlencoded::parse(input).into_owned().collect())
}

/// The non-empty parameters of a request, in order. [`Self::count`] and
/// [`Self::get`] scan the pairs; endpoints ask for a fixed set of names, so
/// a request costs time linear in its pairs. [`Self::first_repeated`] uses a
/// `HashMap` (SipHash, so chosen names cannot force collisions).
#[derive(Debug, Clone)]
pub struct Params<'p> {
    pairs: Vec<(&'p str, &'p str)>,
    /// How many pairs were given, empty ones included.
    given: usize,
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
            given: pairs.len(),
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

    /// `invalid_request` if more than [`MAX_PARAMS`] pairs were given.
    pub fn reject_too_many(&self) -> Result<(), OAuthError> {
        match self.given > MAX_PARAMS {
            true => Err(too_many_parameters()),
            false => Ok(()),
        }
    }

    /// The first parameter name (by first appearance) given more than once.
    /// One pass to count the names, one to find the first repeated one.
    pub fn first_repeated(&self) -> Option<&'p str> {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(self.pairs.len());
        for (k, _) in &self.pairs {
            *seen.entry(k).or_default() += 1;
        }
        self.pairs
            .iter()
            .map(|(k, _)| *k)
            .find(|k| seen.get(k).is_some_and(|n| *n > 1))
    }

    /// `invalid_request` for too many pairs (see [`Self::reject_too_many`])
    /// or naming the first repeated parameter, if any.
    pub fn reject_repeated(&self) -> Result<(), OAuthError> {
        self.reject_too_many()?;
        match self.first_repeated() {
            Some(k) => Err(OAuthError::invalid_request(format!(
                "parameter `{k}` is given more than once"
            ))),
            None => Ok(()),
        }
    }
}

/// The most items a space-delimited list (`scope`, `prompt`, `acr_values`,
/// `ui_locales`) may hold, repeated ones included.
pub const MAX_LIST_ITEMS: usize = 50;

/// A space-delimited list (RFC 6749 §3.3 style): empty items are skipped
/// and repeated ones removed, order kept. `None` if more than
/// [`MAX_LIST_ITEMS`] items are given. Linear in the length of `v`.
pub fn split_list(v: &str) -> Option<Vec<&str>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, item) in v.split(' ').filter(|s| !s.is_empty()).enumerate() {
        if i >= MAX_LIST_ITEMS {
            return None;
        }
        if seen.insert(item) {
            out.push(item);
        }
    }
    Some(out)
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
    fn a_large_body_is_refused_by_the_cap() {
        // 64 KiB of about 11,000 distinct pairs (issue 10, finding 2).
        let body: String = (0..11_000).map(|i| format!("p{i}=v&")).collect();
        assert!(body.len() >= 64 * 1024, "{}", body.len());
        let e = parse_pairs(body.as_bytes()).unwrap_err();
        assert_eq!(e.code, crate::oidc::error::ErrorCode::InvalidRequest);
        assert!(e.description.contains("too many parameters"), "{e}");
        // The same pairs, decoded by someone else, are refused by Params.
        let pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let p = Params::new(&pairs);
        assert_eq!(p.reject_repeated().unwrap_err(), too_many_parameters());
        assert_eq!(p.first_repeated(), None);
    }

    #[test]
    fn the_cap_counts_pairs_as_the_decoder_does() {
        let at_cap: String = (0..MAX_PARAMS).map(|i| format!("&&k{i}=")).collect();
        let got = parse_pairs(at_cap.as_bytes()).unwrap();
        assert_eq!(got.len(), MAX_PARAMS);
        assert!(Params::new(&got).reject_repeated().is_ok());
        let over = format!("{at_cap}&x");
        assert!(parse_pairs(over.as_bytes()).is_err());
        assert_eq!(
            parse_pairs(b"a=1&b=%20").unwrap(),
            pairs(&[("a", "1"), ("b", " ")])
        );
        assert!(parse_pairs(b"").unwrap().is_empty());
    }

    #[test]
    fn lists_are_deduplicated_and_capped() {
        assert_eq!(split_list("  b a  b c a "), Some(vec!["b", "a", "c"]));
        assert_eq!(split_list(""), Some(vec![]));
        let at_cap = vec!["x"; MAX_LIST_ITEMS].join(" ");
        assert_eq!(split_list(&at_cap), Some(vec!["x"]));
        assert_eq!(split_list(&format!("{at_cap} x")), None);
        assert_eq!(split_list(&" ".repeat(70_000)), Some(vec![]));
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
