//! Tests for [`super`]: one or more per validation rule of the authorization
//! request (OIDC Core §3.1.2, RFC 6749 §3.1 / §4.1.2.1, RFC 7636) and the
//! response builders (RFC 9207, Form Post Response Mode).

use super::*;

const CB: &str = "https://rp.example/cb";
const CB_Q: &str = "https://rp.example/cb?tenant=1";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const ISS: &str = "https://id.example.com";

type P = Vec<(&'static str, &'static str)>;

fn base() -> P {
    vec![
        ("client_id", "conf"),
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st"),
    ]
}

fn set(mut p: P, k: &'static str, v: &'static str) -> P {
    p.retain(|(n, _)| *n != k);
    p.push((k, v));
    p
}

fn del(mut p: P, k: &str) -> P {
    p.retain(|(n, _)| *n != k);
    p
}

fn add(mut p: P, k: &'static str, v: &'static str) -> P {
    p.push((k, v));
    p
}

fn run(p: &P) -> Result<AuthRequest, AuthorizeError> {
    let uris = vec![CB.to_string(), CB_Q.to_string()];
    let code = vec![
        "authorization_code".to_string(),
        "refresh_token".to_string(),
    ];
    let cc = vec!["client_credentials".to_string()];
    let pairs: Vec<(String, String)> = p
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    validate(&pairs, |id| {
        let view = |public, grant_types| ClientView {
            client_id: "x",
            redirect_uris: &uris,
            public,
            grant_types,
        };
        match id {
            "conf" => Some(view(false, &code)),
            "pub" => Some(view(true, &code)),
            "m2m" => Some(view(false, &cc)),
            _ => None,
        }
    })
}

fn ok(p: &P) -> AuthRequest {
    run(p).unwrap_or_else(|e| panic!("{p:?}: {e:?}"))
}

fn fatal(p: &P) -> String {
    match run(p) {
        Err(AuthorizeError::Fatal(m)) => m,
        other => panic!("expected Fatal for {p:?}, got {other:?}"),
    }
}

/// (code, state, mode) of a redirected error.
fn redirected(p: &P) -> (OAuthError, Option<String>, ResponseMode) {
    match run(p) {
        Err(AuthorizeError::Redirect {
            redirect_uri,
            response_mode,
            state,
            error,
        }) => {
            assert!(redirect_uri == CB || redirect_uri == CB_Q);
            (error, state, response_mode)
        }
        other => panic!("expected Redirect for {p:?}, got {other:?}"),
    }
}

fn code_of(p: &P) -> ErrorCode {
    redirected(p).0.code
}

#[test]
fn minimal_request_is_valid() {
    let r = ok(&base());
    assert_eq!(r.client_id, "conf");
    assert_eq!(r.redirect_uri, CB);
    assert_eq!(r.scopes, ["openid"]);
    assert_eq!(r.state.as_deref(), Some("st"));
    assert_eq!(r.response_mode, ResponseMode::Query);
    assert_eq!(r.prompt, Prompt::default());
    assert_eq!(r.max_age, None);
    assert_eq!(r.code_challenge, None);
    assert_eq!(r.claims, None);
}

#[test]
fn client_id_missing_repeated_or_unknown_is_fatal() {
    assert!(fatal(&del(base(), "client_id")).contains("client_id"));
    assert!(fatal(&set(base(), "client_id", "")).contains("missing"));
    assert!(fatal(&add(base(), "client_id", "conf")).contains("more than once"));
    assert!(fatal(&set(base(), "client_id", "nobody")).contains("not a registered"));
    // Fatal beats every redirectable error.
    assert!(fatal(&set(del(base(), "response_type"), "client_id", "nobody")).contains("client"));
}

#[test]
fn redirect_uri_missing_repeated_or_unregistered_is_fatal() {
    assert!(fatal(&del(base(), "redirect_uri")).contains("redirect_uri is missing"));
    assert!(fatal(&set(base(), "redirect_uri", "")).contains("missing"));
    assert!(fatal(&add(base(), "redirect_uri", CB)).contains("more than once"));
    for bad in [
        "https://rp.example/cb/",
        "https://RP.example/cb",
        "https://rp.example:443/cb",
        "https://rp.example/cb?tenant=2",
        "https://rp.example/cb#x",
        "https://evil.example/cb",
    ] {
        let p = vec![
            ("client_id", "conf"),
            ("redirect_uri", bad),
            ("response_type", "code"),
            ("scope", "openid"),
        ];
        assert!(fatal(&p).contains("not registered"), "{bad}");
    }
    assert_eq!(ok(&set(base(), "redirect_uri", CB_Q)).redirect_uri, CB_Q);
}

#[test]
fn repeated_parameter_is_invalid_request_naming_it() {
    let (e, state, _) = redirected(&add(base(), "scope", "openid email"));
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.description.contains("`scope`"), "{}", e.description);
    assert_eq!(state.as_deref(), Some("st"));
    // A repeated state is not echoed back.
    let (e, state, _) = redirected(&add(base(), "state", "other"));
    assert!(e.description.contains("`state`"));
    assert_eq!(state, None);
    // Empty values count as absent: not a repetition.
    assert!(run(&add(base(), "scope", "")).is_ok());
    assert!(run(&add(base(), "nonce", "")).is_ok());
}

#[test]
fn nested_request_objects_and_registration_are_refused() {
    // `request` and `request_uri` are resolved before validation; one left
    // in the parameters came from inside a request object or a pushed one.
    assert_eq!(
        code_of(&add(base(), "request", "eyJ")),
        ErrorCode::InvalidRequestObject
    );
    assert_eq!(
        code_of(&add(base(), "request_uri", "https://rp.example/r")),
        ErrorCode::InvalidRequestUri
    );
    assert_eq!(
        code_of(&add(base(), "registration", "{}")),
        ErrorCode::RegistrationNotSupported
    );
    // Checked before response_type.
    let p = set(add(base(), "request", "eyJ"), "response_type", "token");
    assert_eq!(code_of(&p), ErrorCode::InvalidRequestObject);
    // An empty `request` is absent.
    assert!(run(&add(base(), "request", "")).is_ok());
}

#[test]
fn response_type_must_be_code() {
    assert_eq!(
        code_of(&del(base(), "response_type")),
        ErrorCode::InvalidRequest
    );
    for rt in [
        "token",
        "id_token",
        "code id_token",
        "code token",
        "Code",
        " code",
    ] {
        assert_eq!(
            code_of(&set(base(), "response_type", rt)),
            ErrorCode::UnsupportedResponseType,
            "{rt}"
        );
    }
    // Checked before the client's grant types.
    let p = set(set(base(), "client_id", "m2m"), "response_type", "token");
    assert_eq!(code_of(&p), ErrorCode::UnsupportedResponseType);
}

#[test]
fn client_must_be_allowed_the_code_grant() {
    assert_eq!(
        code_of(&set(base(), "client_id", "m2m")),
        ErrorCode::UnauthorizedClient
    );
}

#[test]
fn response_mode_query_or_form_post() {
    assert_eq!(
        ok(&add(base(), "response_mode", "query")).response_mode,
        ResponseMode::Query
    );
    assert_eq!(
        ok(&add(base(), "response_mode", "form_post")).response_mode,
        ResponseMode::FormPost
    );
    for bad in ["fragment", "jwt", "FORM_POST"] {
        let (e, _, mode) = redirected(&add(base(), "response_mode", bad));
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
        assert_eq!(mode, ResponseMode::Query);
    }
}

#[test]
fn valid_response_mode_is_used_for_later_errors() {
    let p = del(add(base(), "response_mode", "form_post"), "scope");
    let (e, state, mode) = redirected(&p);
    assert_eq!(e.code, ErrorCode::InvalidScope);
    assert_eq!(state.as_deref(), Some("st"));
    assert_eq!(mode, ResponseMode::FormPost);
    // Repeated response_mode: errors go back by query.
    let p = add(
        add(base(), "response_mode", "form_post"),
        "response_mode",
        "form_post",
    );
    let (e, _, mode) = redirected(&p);
    assert!(e.description.contains("response_mode"));
    assert_eq!(mode, ResponseMode::Query);
}

#[test]
fn scope_must_include_openid() {
    assert_eq!(code_of(&del(base(), "scope")), ErrorCode::InvalidScope);
    assert_eq!(
        code_of(&set(base(), "scope", "email profile")),
        ErrorCode::InvalidScope
    );
    assert_eq!(
        code_of(&set(base(), "scope", "OpenID")),
        ErrorCode::InvalidScope
    );
    assert_eq!(
        code_of(&set(base(), "scope", "openidx")),
        ErrorCode::InvalidScope
    );
}

#[test]
fn scopes_are_deduped_filtered_and_ordered() {
    let r = ok(&set(
        base(),
        "scope",
        "email  openid custom:read email offline_access profile phone address",
    ));
    assert_eq!(
        r.scopes,
        [
            "email",
            "openid",
            "offline_access",
            "profile",
            "phone",
            "address"
        ]
    );
}

#[test]
fn offline_access_is_kept_without_prompt_consent() {
    let r = ok(&set(base(), "scope", "openid offline_access"));
    assert!(r.scopes.contains(&"offline_access".to_string()));
    assert!(!r.prompt.consent);
}

#[test]
fn prompt_values() {
    let p = |v| ok(&add(base(), "prompt", v)).prompt;
    assert_eq!(
        p("none"),
        Prompt {
            none: true,
            ..Default::default()
        }
    );
    assert_eq!(
        p("login"),
        Prompt {
            login: true,
            ..Default::default()
        }
    );
    assert_eq!(
        p("select_account"),
        Prompt {
            login: true,
            ..Default::default()
        }
    );
    assert_eq!(
        p("consent"),
        Prompt {
            consent: true,
            ..Default::default()
        }
    );
    assert_eq!(
        p("login consent"),
        Prompt {
            none: false,
            login: true,
            consent: true
        }
    );
    for bad in ["none login", "consent none", "bogus", "login Consent"] {
        assert_eq!(
            code_of(&add(base(), "prompt", bad)),
            ErrorCode::InvalidRequest,
            "{bad}"
        );
    }
}

#[test]
fn max_age_is_a_non_negative_integer() {
    assert_eq!(ok(&add(base(), "max_age", "0")).max_age, Some(0));
    assert_eq!(ok(&add(base(), "max_age", "3600")).max_age, Some(3600));
    for bad in ["-1", "+5", "1.5", "abc", " 5", "99999999999999999999999"] {
        assert_eq!(
            code_of(&add(base(), "max_age", bad)),
            ErrorCode::InvalidRequest,
            "{bad}"
        );
    }
}

#[test]
fn pkce_rules() {
    let with = |p: P, m: &'static str| {
        add(
            add(p, "code_challenge", CHALLENGE),
            "code_challenge_method",
            m,
        )
    };
    let r = ok(&with(base(), "S256"));
    assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
    assert_eq!(r.code_challenge_method.as_deref(), Some("S256"));
    // Method without challenge.
    let (e, ..) = redirected(&add(base(), "code_challenge_method", "S256"));
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    // plain (explicit or by default) and other methods.
    for m in ["plain", "s256", "S512"] {
        let (e, ..) = redirected(&with(base(), m));
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{m}");
        assert!(e.description.contains("only S256"), "{m}");
    }
    let (e, ..) = redirected(&add(base(), "code_challenge", CHALLENGE));
    assert!(e.description.contains("only S256"));
    // Malformed challenge.
    for c in [
        "short",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
    ] {
        let p = add(
            add(base(), "code_challenge", c),
            "code_challenge_method",
            "S256",
        );
        assert_eq!(code_of(&p), ErrorCode::InvalidRequest, "{c}");
    }
}

#[test]
fn public_clients_need_pkce() {
    let p = set(base(), "client_id", "pub");
    let (e, ..) = redirected(&p);
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.description.contains("PKCE required for public clients"));
    let p = add(
        add(p, "code_challenge", CHALLENGE),
        "code_challenge_method",
        "S256",
    );
    assert!(ok(&p).code_challenge.is_some());
    // Confidential clients may omit it.
    assert!(ok(&base()).code_challenge.is_none());
}

#[test]
fn claims_parameter() {
    let r = ok(&add(
        base(),
        "claims",
        r#"{"id_token":{"email":{"essential":true}}}"#,
    ));
    assert!(r.claims.unwrap().id_token.contains_key("email"));
    for bad in ["{", "[]", r#"{"userinfo":5}"#] {
        let (e, ..) = redirected(&add(base(), "claims", bad));
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
        assert!(e.description.starts_with("claims"));
    }
}

#[test]
fn consent_items_name_claims_beyond_the_scopes() {
    let claims = r#"{"id_token":{"email":null,"phone_number":null,"acr":null},
                     "userinfo":{"sub":{"value":"u-1"}}}"#;
    let r = ok(&add(base(), "claims", claims));
    assert_eq!(
        r.consent_items(),
        ["openid", "claim:email", "claim:phone_number"]
    );
    assert_eq!(
        r.claim_texts(),
        ["See your email address", "See your phone number"]
    );
    let r = ok(&add(set(base(), "scope", "openid phone"), "claims", claims));
    assert_eq!(r.consent_items(), ["openid", "phone", "claim:email"]);
    assert_eq!(ok(&base()).consent_items(), ["openid"]);
}

#[test]
fn a_sub_value_request_names_the_only_acceptable_user() {
    let r = ok(&add(
        base(),
        "claims",
        r#"{"id_token":{"sub":{"value":"u-1"}}}"#,
    ));
    assert!(!r.wants_other_subject("u-1"));
    assert!(r.wants_other_subject("u-2"));
    let r = ok(&add(base(), "claims", r#"{"id_token":{"sub":null}}"#));
    assert!(!r.wants_other_subject("u-2"));
    assert!(!ok(&base()).wants_other_subject("u-2"));
}

#[test]
fn optional_parameters_and_unknown_ones() {
    let p = base()
        .into_iter()
        .chain([
            ("nonce", "n-0S6"),
            ("login_hint", "ada@example.com"),
            ("id_token_hint", "eyJ.x.y"),
            ("acr_values", "urn:a  urn:b urn:a"),
            ("ui_locales", "fr-CA en"),
            ("display", "popup"),
            ("whatever", "1"),
            ("whatever2", "1"),
        ])
        .collect();
    let r = ok(&p);
    assert_eq!(r.nonce.as_deref(), Some("n-0S6"));
    assert_eq!(r.login_hint.as_deref(), Some("ada@example.com"));
    assert_eq!(r.id_token_hint.as_deref(), Some("eyJ.x.y"));
    assert_eq!(r.acr_values, ["urn:a", "urn:b"]);
    assert_eq!(r.ui_locales, ["fr-CA", "en"]);
    assert_eq!(ok(&del(base(), "state")).state, None);
}

#[test]
fn auth_request_round_trips_through_serde() {
    let p = add(
        add(base(), "response_mode", "form_post"),
        "claims",
        r#"{"userinfo":{"email":null}}"#,
    );
    let r = ok(&p);
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"form_post\""));
    let back: AuthRequest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn error_redirect_url_encodes_and_keeps_query() {
    let e = OAuthError::invalid_scope("scope must include \"openid\" & more");
    let u = error_redirect_url(CB_Q, &e, Some("a b&c=d"), ISS);
    assert!(u.starts_with("https://rp.example/cb?tenant=1&error=invalid_scope&"));
    assert_eq!(
        query_of(&u),
        pairs(&[
            ("tenant", "1"),
            ("error", "invalid_scope"),
            ("error_description", "scope must include ?openid? & more"),
            ("state", "a b&c=d"),
            ("iss", ISS),
        ])
    );
    let u = error_redirect_url(CB, &OAuthError::access_denied(""), None, ISS);
    assert_eq!(
        u,
        "https://rp.example/cb?error=access_denied&iss=https%3A%2F%2Fid.example.com"
    );
}

#[test]
fn success_redirect_url_carries_code_state_iss_and_session_state() {
    let u = success_redirect_url(CB_Q, "c0de", Some("st"), ISS, Some("ss.salt"));
    assert_eq!(
        query_of(&u),
        pairs(&[
            ("tenant", "1"),
            ("code", "c0de"),
            ("state", "st"),
            ("session_state", "ss.salt"),
            ("iss", ISS),
        ])
    );
    let u = success_redirect_url(CB, "c0de", None, ISS, None);
    assert_eq!(query_of(&u), pairs(&[("code", "c0de"), ("iss", ISS)]));
}

#[test]
fn form_post_params() {
    let e = OAuthError::login_required("log in first");
    assert_eq!(
        error_params(&e, Some("st"), ISS),
        pairs(&[
            ("error", "login_required"),
            ("error_description", "log in first"),
            ("state", "st"),
            ("iss", ISS),
        ])
    );
    assert_eq!(
        success_params("c", None, ISS, Some("ss")),
        pairs(&[("code", "c"), ("session_state", "ss"), ("iss", ISS)])
    );
}

#[test]
fn too_many_parameters_or_list_items_are_refused() {
    let mut many: Vec<(String, String)> =
        (0..11_000).map(|i| (format!("p{i}"), "v".into())).collect();
    many.extend(base().iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let looked_up = std::cell::Cell::new(false);
    let r = validate(&many, |_| {
        looked_up.set(true);
        None
    });
    match r {
        Err(AuthorizeError::Fatal(m)) => assert!(m.contains("too many parameters"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(!looked_up.get(), "refused before the client lookup");
    let scope: &'static str = Box::leak(format!("openid{}", " email".repeat(50)).into_boxed_str());
    assert_eq!(
        code_of(&set(base(), "scope", scope)),
        ErrorCode::InvalidScope
    );
    let ui: &'static str = Box::leak(vec!["en"; 51].join(" ").into_boxed_str());
    let (e, _, _) = redirected(&set(base(), "ui_locales", ui));
    assert!(
        e.description.contains("ui_locales has too many values"),
        "{e:?}"
    );
}
