//! Which user claims to release, and the `claims` request parameter.
//!
//! Owns the standard claim names (OIDC Core §5.1), the scope-to-claims
//! mapping (§5.4), the syntax of the `claims` parameter (§5.5) and the choice
//! of claims for the ID token and the UserInfo response. For the code flow an
//! access token is always issued, so scope-requested claims go to UserInfo
//! only (§5.4, last paragraph); the ID token carries only what
//! `claims.id_token` asks for. Claims asked for through `claims` beyond the
//! scopes need their own consent ([`consent_claims`], stored as
//! `claim:NAME`); a `sub` value request is answered by the callers
//! ([`requested_sub`]), and `sub` is never selected here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One entry of a `claims` request (OIDC Core §5.5.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClaimSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
}

/// The parsed `claims` request parameter (OIDC Core §5.5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    #[serde(default)]
    pub userinfo: BTreeMap<String, Option<ClaimSpec>>,
    #[serde(default)]
    pub id_token: BTreeMap<String, Option<ClaimSpec>>,
}

/// The longest `claims` parameter accepted, in bytes.
pub const MAX_CLAIMS_LEN: usize = 4096;
/// The deepest nesting of JSON arrays and objects in `claims` (the
/// parameter itself, a target, an entry, `values`, one more for a
/// structured value such as `address`, and one to spare).
pub const MAX_CLAIMS_DEPTH: usize = 6;
/// The most claim entries in `claims`, both targets together.
pub const MAX_CLAIMS_ENTRIES: usize = 50;
/// The most items in one entry's `values`.
pub const MAX_CLAIM_VALUES: usize = 20;

/// Parses the `claims` parameter. It must be a JSON object; its `userinfo`
/// and `id_token` members, when present and not null, must be objects whose
/// members are each `null` or an object with an optional boolean `essential`,
/// any `value` and an array `values`. Other top-level members and other
/// members of a claim entry are ignored (§5.5: "not understood" is ignored).
///
/// The parameter arrives before authentication and is kept with the code,
/// so it is bounded: at most [`MAX_CLAIMS_LEN`] bytes, checked first, then
/// [`MAX_CLAIMS_DEPTH`] levels of nesting, checked by one scan before
/// parsing, then [`MAX_CLAIMS_ENTRIES`] entries of at most
/// [`MAX_CLAIM_VALUES`] values each.
pub fn parse_claims_param(s: &str) -> Result<ClaimsRequest, String> {
    if s.len() > MAX_CLAIMS_LEN {
        return Err(format!("claims is longer than {MAX_CLAIMS_LEN} bytes"));
    }
    if json_depth(s) > MAX_CLAIMS_DEPTH {
        return Err(format!(
            "claims is nested more than {MAX_CLAIMS_DEPTH} levels deep"
        ));
    }
    let v: Value = serde_json::from_str(s).map_err(|e| format!("claims is not valid JSON: {e}"))?;
    let Value::Object(top) = v else {
        return Err("claims must be a JSON object".into());
    };
    let mut out = ClaimsRequest::default();
    let mut entries = 0;
    for (target, map) in [
        ("userinfo", &mut out.userinfo),
        ("id_token", &mut out.id_token),
    ] {
        match top.get(target) {
            None | Some(Value::Null) => {}
            Some(Value::Object(members)) => {
                entries += members.len();
                if entries > MAX_CLAIMS_ENTRIES {
                    return Err(format!("claims has more than {MAX_CLAIMS_ENTRIES} entries"));
                }
                for (name, entry) in members {
                    map.insert(name.clone(), parse_entry(target, name, entry)?);
                }
            }
            Some(_) => return Err(format!("claims.{target} must be an object")),
        }
    }
    Ok(out)
}

fn parse_entry(target: &str, name: &str, entry: &Value) -> Result<Option<ClaimSpec>, String> {
    let obj = match entry {
        Value::Null => return Ok(None),
        Value::Object(obj) => obj,
        _ => return Err(format!("claims.{target}.{name} must be null or an object")),
    };
    let essential = match obj.get("essential") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(format!(
                "claims.{target}.{name}.essential must be a boolean"
            ))
        }
    };
    let values = match obj.get("values") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.len() <= MAX_CLAIM_VALUES => Some(a.clone()),
        Some(Value::Array(_)) => {
            return Err(format!(
                "claims.{target}.{name}.values has more than {MAX_CLAIM_VALUES} items"
            ))
        }
        Some(_) => return Err(format!("claims.{target}.{name}.values must be an array")),
    };
    let value = obj.get("value").filter(|v| !v.is_null()).cloned();
    Ok(Some(ClaimSpec {
        essential,
        value,
        values,
    }))
}

/// The deepest nesting of `[` / `{` in JSON text, brackets inside strings
/// not counted. One pass, no allocation; malformed text is left to the
/// parser (this only bounds its work).
pub(super) fn json_depth(s: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in s.bytes() {
        match (in_string, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'[' | b'{') => {
                depth += 1;
                max = max.max(depth);
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The standard claims of OIDC Core §5.1 (without `sub`).
pub const STANDARD_CLAIMS: &[&str] = &[
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
];

const PROFILE: &[&str] = &[
    "name",
    "family_name",
    "given_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];

/// The claims a scope value requests (OIDC Core §5.4); other scopes → `&[]`.
pub fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => PROFILE,
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

/// Where claims are being released to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    IdToken,
    UserInfo,
}

/// Claims to release. `user` holds the user's standard claims (only present
/// ones; `sub` is NOT in it and is never removed/added here).
///
/// * `IdToken`: only claims requested via `claims.id_token` (for a code flow
///   an access token is issued, so per §5.4 scope claims go to UserInfo, not
///   the ID token).
/// * `UserInfo`: scope claims ∪ `claims.userinfo` names.
///
/// Only names in [`STANDARD_CLAIMS`] are released. A requested
/// `value`/`values` does not filter (we just release what we have, §5.5.1
/// lets the OP return the actual value).
pub fn select(
    user: &BTreeMap<String, Value>,
    scopes: &[String],
    claims: Option<&ClaimsRequest>,
    target: Target,
) -> BTreeMap<String, Value> {
    let mut wanted: Vec<&str> = Vec::new();
    match target {
        Target::IdToken => {
            if let Some(c) = claims {
                wanted.extend(c.id_token.keys().map(String::as_str));
            }
        }
        Target::UserInfo => {
            for s in scopes {
                wanted.extend_from_slice(scope_claims(s));
            }
            if let Some(c) = claims {
                wanted.extend(c.userinfo.keys().map(String::as_str));
            }
        }
    }
    wanted
        .into_iter()
        .filter(|n| STANDARD_CLAIMS.contains(n))
        .filter_map(|n| user.get(n).map(|v| (n.to_string(), v.clone())))
        .collect()
}

/// Requested `acr` values (essential or not) from `claims.id_token.acr`
/// (`value` first, then `values`; strings only, duplicates removed). The OP
/// may use them to pick an authentication level; they are informational.
pub fn requested_acr(claims: Option<&ClaimsRequest>) -> Vec<String> {
    let Some(Some(spec)) = claims.and_then(|c| c.id_token.get("acr")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    let vals = spec.value.iter().chain(spec.values.iter().flatten());
    for v in vals {
        if let Some(s) = v.as_str() {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
    }
    out
}

/// How a claim consented through the `claims` parameter is stored among
/// the consented scopes (`claim:email`). No scope value contains `:` (only
/// [`super::authorize::SUPPORTED_SCOPES`] are kept), so the two never clash,
/// and the consent record keeps its format.
pub const CLAIM_CONSENT_PREFIX: &str = "claim:";

/// The user claims the `claims` parameter asks for (either target) that
/// need the user's consent beyond `scopes`: standard claims (§5.1, never
/// `sub`) that none of the requested scopes already asks for (§5.4).
/// Sorted, without duplicates. Other names (`acr`, `auth_time`, unknown
/// ones) carry no user data and are never released by [`select`].
pub fn consent_claims<'c>(claims: Option<&'c ClaimsRequest>, scopes: &[String]) -> Vec<&'c str> {
    let Some(c) = claims else {
        return Vec::new();
    };
    let mut out: Vec<&str> = c
        .id_token
        .keys()
        .chain(c.userinfo.keys())
        .map(String::as_str)
        .filter(|n| STANDARD_CLAIMS.contains(n))
        .filter(|n| !scopes.iter().any(|s| scope_claims(s).contains(n)))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// What the consent page says for a claim of [`consent_claims`].
pub fn claim_text(name: &str) -> &'static str {
    match name {
        "name" => "See your full name",
        "given_name" => "See your first name",
        "family_name" => "See your last name",
        "middle_name" => "See your middle name",
        "nickname" => "See your nickname",
        "preferred_username" => "See your preferred username",
        "profile" => "See the address of your profile page",
        "picture" => "See your picture",
        "website" => "See your website",
        "email" => "See your email address",
        "email_verified" => "See whether your email address is verified",
        "gender" => "See your gender",
        "birthdate" => "See your date of birth",
        "zoneinfo" => "See your time zone",
        "locale" => "See your language and region",
        "phone_number" => "See your phone number",
        "phone_number_verified" => "See whether your phone number is verified",
        "address" => "See your postal address",
        "updated_at" => "See when your profile was last updated",
        _ => "See other information about you",
    }
}

/// The `sub` value requested via `claims.id_token.sub.value` or
/// `claims.userinfo.sub.value`, if any. Per §5.5.1 the OP must only answer
/// positively if the authenticated user has this subject.
pub fn requested_sub(claims: Option<&ClaimsRequest>) -> Option<&str> {
    let c = claims?;
    [c.id_token.get("sub"), c.userinfo.get("sub")]
        .into_iter()
        .flatten()
        .flatten()
        .find_map(|spec| spec.value.as_ref().and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> BTreeMap<String, Value> {
        let mut u = BTreeMap::new();
        u.insert("name".into(), json!("Ada Lovelace"));
        u.insert("given_name".into(), json!("Ada"));
        u.insert("email".into(), json!("ada@example.com"));
        u.insert("email_verified".into(), json!(true));
        u.insert("phone_number".into(), json!("+44 1"));
        u.insert("custom_internal".into(), json!("secret"));
        u
    }

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_spec_example() {
        // OIDC Core §5.5, non-normative example (abridged).
        let c = parse_claims_param(
            r#"{"userinfo":{"given_name":{"essential":true},"nickname":null,
                "email":{"essential":true},"picture":null},
               "id_token":{"auth_time":{"essential":true},
                "acr":{"values":["urn:mace:incommon:iap:silver"]}}}"#,
        )
        .unwrap();
        assert_eq!(c.userinfo.len(), 4);
        assert_eq!(c.userinfo["nickname"], None);
        assert_eq!(c.userinfo["email"].as_ref().unwrap().essential, Some(true));
        assert_eq!(
            requested_acr(Some(&c)),
            vec!["urn:mace:incommon:iap:silver".to_string()]
        );
    }

    #[test]
    fn rejects_malformed_claims() {
        for bad in [
            "",
            "[]",
            "\"x\"",
            "null",
            r#"{"userinfo":[]}"#,
            r#"{"id_token":"email"}"#,
            r#"{"userinfo":{"email":true}}"#,
            r#"{"userinfo":{"email":"x"}}"#,
            r#"{"userinfo":{"email":{"essential":"yes"}}}"#,
            r#"{"id_token":{"acr":{"values":"x"}}}"#,
            "{not json",
        ] {
            assert!(parse_claims_param(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_empty_null_and_unknown_members() {
        assert_eq!(parse_claims_param("{}").unwrap(), ClaimsRequest::default());
        let c = parse_claims_param(r#"{"userinfo":null,"other":5}"#).unwrap();
        assert_eq!(c, ClaimsRequest::default());
        let c = parse_claims_param(r#"{"id_token":{"email":{"purpose":"x"}}}"#).unwrap();
        assert_eq!(c.id_token["email"], Some(ClaimSpec::default()));
    }

    #[test]
    fn claims_is_bounded() {
        let long = format!(
            r#"{{"userinfo":{{"email":{{"value":"{}"}}}}}}"#,
            "a".repeat(4096)
        );
        assert!(parse_claims_param(&long).unwrap_err().contains("longer"));
        let deep = format!("{}{}", "[".repeat(7), "]".repeat(7));
        assert!(parse_claims_param(&deep).unwrap_err().contains("nested"));
        // Brackets inside strings do not count; escaped quotes stay inside.
        let quoted = r#"{"userinfo":{"email":{"value":"[[[[[[[[\"{{{{{{{"}}}"#;
        assert!(parse_claims_param(quoted).is_ok(), "{quoted}");
        let address = r#"{"userinfo":{"address":{"values":[{"country":["x"]}]}}}"#;
        assert!(parse_claims_param(address).is_ok());
        let many: Vec<String> = (0..26).map(|i| format!(r#""c{i}":null"#)).collect();
        let half = many.join(",");
        let two = format!(r#"{{"userinfo":{{{half}}},"id_token":{{{half}}}}}"#);
        assert!(parse_claims_param(&two).unwrap_err().contains("entries"));
        let one = format!(r#"{{"userinfo":{{{half}}}}}"#);
        assert_eq!(parse_claims_param(&one).unwrap().userinfo.len(), 26);
        let values = format!(
            r#"{{"id_token":{{"acr":{{"values":[{}]}}}}}}"#,
            ["1"; 21].join(",")
        );
        assert!(parse_claims_param(&values).unwrap_err().contains("values"));
    }

    #[test]
    fn claim_spec_serializes_without_nones() {
        let c =
            parse_claims_param(r#"{"id_token":{"email":{"essential":true},"name":null}}"#).unwrap();
        let s = serde_json::to_value(&c).unwrap();
        assert_eq!(
            s,
            json!({"userinfo":{}, "id_token":{"email":{"essential":true},"name":null}})
        );
        let back: ClaimsRequest = serde_json::from_value(s).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn scope_mapping_is_section_5_4() {
        assert_eq!(scope_claims("email"), &["email", "email_verified"]);
        assert_eq!(scope_claims("address"), &["address"]);
        assert_eq!(
            scope_claims("phone"),
            &["phone_number", "phone_number_verified"]
        );
        assert_eq!(scope_claims("profile").len(), 14);
        assert!(scope_claims("profile").contains(&"updated_at"));
        assert!(!scope_claims("profile").contains(&"email"));
        assert!(scope_claims("openid").is_empty());
        assert!(scope_claims("offline_access").is_empty());
        for s in ["profile", "email", "address", "phone"] {
            for c in scope_claims(s) {
                assert!(STANDARD_CLAIMS.contains(c), "{c}");
            }
        }
        assert_eq!(STANDARD_CLAIMS.len(), 19);
    }

    /// The names `select` releases to `target` for these scopes, no `claims`.
    fn released(granted: &[&str], target: Target) -> Vec<String> {
        select(&user(), &scopes(granted), None, target)
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn userinfo_gets_scope_claims() {
        let got = released(&["openid", "email"], Target::UserInfo);
        assert_eq!(got, ["email", "email_verified"]);
        let got = released(&["openid", "profile"], Target::UserInfo);
        assert_eq!(got, ["given_name", "name"]);
        assert!(released(&["openid"], Target::UserInfo).is_empty());
    }

    #[test]
    fn id_token_gets_only_requested_claims() {
        assert!(released(&["openid", "email"], Target::IdToken).is_empty());
        let c = parse_claims_param(r#"{"id_token":{"name":null,"acr":null}}"#).unwrap();
        let got = select(
            &user(),
            &scopes(&["openid", "email"]),
            Some(&c),
            Target::IdToken,
        );
        assert_eq!(got.keys().collect::<Vec<_>>(), ["name"]);
    }

    #[test]
    fn userinfo_unions_claims_request_and_scopes() {
        let c =
            parse_claims_param(r#"{"userinfo":{"phone_number":null},"id_token":{"name":null}}"#)
                .unwrap();
        let got = select(
            &user(),
            &scopes(&["openid", "email"]),
            Some(&c),
            Target::UserInfo,
        );
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            ["email", "email_verified", "phone_number"]
        );
    }

    #[test]
    fn only_present_standard_claims_are_released() {
        let c = parse_claims_param(
            r#"{"userinfo":{"custom_internal":null,"sub":null,"picture":null},
                "id_token":{"custom_internal":null}}"#,
        )
        .unwrap();
        let got = select(&user(), &scopes(&["openid"]), Some(&c), Target::UserInfo);
        assert!(got.is_empty(), "{got:?}");
        assert!(select(&user(), &[], Some(&c), Target::IdToken).is_empty());
    }

    #[test]
    fn value_does_not_filter() {
        let c =
            parse_claims_param(r#"{"userinfo":{"email":{"value":"other@example.com"}}}"#).unwrap();
        let got = select(&user(), &[], Some(&c), Target::UserInfo);
        assert_eq!(got["email"], json!("ada@example.com"));
    }

    #[test]
    fn requested_acr_collects_value_and_values() {
        assert!(requested_acr(None).is_empty());
        let c = parse_claims_param(r#"{"id_token":{"acr":null}}"#).unwrap();
        assert!(requested_acr(Some(&c)).is_empty());
        let c = parse_claims_param(
            r#"{"id_token":{"acr":{"essential":true,"value":"a","values":["b","a",3]}}}"#,
        )
        .unwrap();
        assert_eq!(requested_acr(Some(&c)), vec!["a", "b"]);
        // acr under userinfo is not an ID token request.
        let c = parse_claims_param(r#"{"userinfo":{"acr":{"value":"a"}}}"#).unwrap();
        assert!(requested_acr(Some(&c)).is_empty());
    }

    #[test]
    fn requested_sub_reads_either_target() {
        assert_eq!(requested_sub(None), None);
        let c = parse_claims_param(r#"{"id_token":{"sub":{"value":"u1"}}}"#).unwrap();
        assert_eq!(requested_sub(Some(&c)), Some("u1"));
        let c = parse_claims_param(r#"{"userinfo":{"sub":{"value":"u2"}}}"#).unwrap();
        assert_eq!(requested_sub(Some(&c)), Some("u2"));
        let c = parse_claims_param(r#"{"userinfo":{"sub":null}}"#).unwrap();
        assert_eq!(requested_sub(Some(&c)), None);
    }

    #[test]
    fn consent_claims_are_standard_claims_beyond_the_scopes() {
        assert!(consent_claims(None, &scopes(&["openid"])).is_empty());
        let c = parse_claims_param(
            r#"{"id_token":{"phone_number":null,"email":{"essential":true},"sub":{"value":"u"},
                "acr":null,"auth_time":null,"custom_internal":null},
               "userinfo":{"email":null,"name":null}}"#,
        )
        .unwrap();
        let got = consent_claims(Some(&c), &scopes(&["openid"]));
        assert_eq!(got, ["email", "name", "phone_number"]);
        // A claim the scopes already ask for is consented with the scope.
        let got = consent_claims(Some(&c), &scopes(&["openid", "email", "profile"]));
        assert_eq!(got, ["phone_number"]);
        for n in STANDARD_CLAIMS {
            assert_ne!(claim_text(n), claim_text("custom_internal"), "{n}");
        }
    }
}
