//! Protected resource metadata (RFC 9728): what this API is, which authorization server issues
//! its tokens and how they are presented, at the well-known URL its resource identifier gives;
//! and that URL, which every challenge names in `resource_metadata` (§5.1) so that a client
//! refused here can find the authorization server to go to.

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::Resource;

/// The well-known suffix (RFC 9728 §3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The path of the metadata document of resource identifier `resource`, and its origin: the
/// well-known suffix inserted between the host and the path (without a terminating slash) and
/// query (§3.1). None when the identifier is not an `http(s)` URL.
fn location(resource: &str) -> Option<(String, String)> {
    let url = url::Url::parse(resource).ok()?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() || url.fragment().is_some() {
        return None;
    }
    let mut path = format!("{WELL_KNOWN}{}", url.path().trim_end_matches('/'));
    if let Some(query) = url.query() {
        path.push('?');
        path.push_str(query);
    }
    Some((url.origin().ascii_serialization(), path))
}

impl Resource {
    /// Where this API's metadata document is (RFC 9728 §3.1), from its resource identifier (the
    /// audience); none when the audience is not an `http(s)` URL.
    #[must_use]
    pub fn metadata_url(&self) -> Option<String> {
        location(&self.config().audience).map(|(origin, path)| format!("{origin}{path}"))
    }

    /// The metadata document (RFC 9728 §2).
    #[must_use]
    pub fn metadata(&self) -> Value {
        let config = self.config();
        let mut document = json!({
            "resource": config.audience,
            "authorization_servers": [config.issuer],
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": crate::challenge::DPOP_ALGORITHMS,
        });
        if !config.scopes_supported.is_empty() {
            document["scopes_supported"] = json!(config.scopes_supported);
        }
        document
    }

    /// A router serving [`metadata`](Self::metadata) at its well-known path, to merge into the
    /// API's router outside [`ResourceLayer`](crate::ResourceLayer): the document is public.
    /// Empty when there is no such path (an audience that is not a URL).
    pub fn metadata_router(&self) -> axum::Router {
        let Some((_, path)) = location(&self.config().audience) else {
            return axum::Router::new();
        };
        // A query belongs to the URL, not to the route.
        let route = path.split('?').next().unwrap_or(WELL_KNOWN).to_owned();
        let document = self.metadata();
        axum::Router::new().route(
            &route,
            axum::routing::get(move || {
                let document = document.clone();
                async move {
                    (
                        [(header::CACHE_CONTROL, "public, max-age=300")],
                        axum::Json(document),
                    )
                        .into_response()
                }
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_path_goes_between_host_and_path() {
        let at = |r: &str| location(r).map(|(o, p)| format!("{o}{p}"));
        assert_eq!(
            at("https://mail.example").as_deref(),
            Some("https://mail.example/.well-known/oauth-protected-resource")
        );
        assert_eq!(
            at("https://mail.example/").as_deref(),
            Some("https://mail.example/.well-known/oauth-protected-resource")
        );
        assert_eq!(
            at("https://api.example:8443/mail/").as_deref(),
            Some("https://api.example:8443/.well-known/oauth-protected-resource/mail")
        );
        assert_eq!(
            at("https://api.example/v1?tenant=a").as_deref(),
            Some("https://api.example/.well-known/oauth-protected-resource/v1?tenant=a")
        );
        for not_a_url in [
            "api://mail",
            "mail-api",
            "https://mail.example/#x",
            "urn:example:mail",
        ] {
            assert_eq!(at(not_a_url), None, "{not_a_url}");
        }
    }
}
