//! Reading `application/x-www-form-urlencoded` request bodies, shared by the
//! token, introspection, revocation, authorization (POST) and logout
//! endpoints.

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::oidc::error::{ErrorCode, OAuthError};

/// Parse a form body, insisting on the form content type (RFC 6749 §3.2);
/// more than `oidc::form::MAX_PARAMS` pairs are refused before decoding.
pub fn form_body(req: &HttpRequest, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    if !is_form(req) {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    crate::oidc::form::parse_pairs(body)
}

/// Whether the request says its body is a form.
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

/// The `Authorization` header, if it is readable text.
pub fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn a_form_is_parsed_and_anything_else_refused() {
        let req = TestRequest::default()
            .insert_header((
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=UTF-8",
            ))
            .to_http_request();
        let form = form_body(&req, b"a=1&b=x%20y&a=2").unwrap();
        assert_eq!(
            form,
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "x y".to_string()),
                ("a".to_string(), "2".to_string()),
            ]
        );
        let json = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .to_http_request();
        let err = form_body(&json, b"a=1").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        let none = TestRequest::default().to_http_request();
        assert!(form_body(&none, b"a=1").is_err());
    }
}
