//! The tower layer and the axum extractor: every request's credentials are checked before the
//! inner service sees it; a refusal is answered with its challenge, a success puts the
//! [`Principal`] in the request's extensions.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::{Challenge, Principal, Resource};

/// Puts a [`Resource`] check in front of a service.
#[derive(Debug, Clone)]
pub struct ResourceLayer {
    resource: Resource,
}

impl ResourceLayer {
    /// A layer checking requests with `resource`.
    #[must_use]
    pub const fn new(resource: Resource) -> Self {
        Self { resource }
    }
}

impl<S> Layer<S> for ResourceLayer {
    type Service = ResourceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResourceService {
            inner,
            resource: self.resource.clone(),
        }
    }
}

/// The service [`ResourceLayer`] makes.
#[derive(Debug, Clone)]
pub struct ResourceService<S> {
    inner: S,
    resource: Resource,
}

impl<S> Service<Request> for ResourceService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The clone that was made ready is the one to call; keep a fresh clone for next time.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let resource = self.resource.clone();
        Box::pin(async move {
            let path = request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().path().to_owned(), |p| p.as_str().to_owned());
            // The connection's address, when the server was started with
            // `into_make_service_with_connect_info::<SocketAddr>()`.
            let peer = request
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip());
            let response = match resource
                .authenticate_from(request.method(), &path, request.headers(), peer)
                .await
            {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                    inner.call(request).await?
                }
                Err(challenge) => {
                    tracing::debug!(error = ?challenge.error, description = %challenge.description, "request refused");
                    challenge.into_response()
                }
            };
            Ok(name_metadata(response, &resource))
        })
    }
}

/// Adds `resource_metadata` (RFC 9728 §5.1) to the challenges of a refusal, whether the layer
/// or a handler (`require_scope`) made it, so that the client can find where to get a token.
fn name_metadata(mut response: Response, resource: &Resource) -> Response {
    // Most answers are not challenges: only those pay for working out the URL.
    if !response
        .headers()
        .contains_key(axum::http::header::WWW_AUTHENTICATE)
    {
        return response;
    }
    let Some(url) = resource.metadata_url() else {
        return response;
    };
    let headers = response.headers_mut();
    let challenges: Vec<_> = headers
        .get_all(axum::http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| {
            if v.contains("resource_metadata=") {
                v.to_owned()
            } else {
                format!("{v}, resource_metadata=\"{url}\"")
            }
        })
        .collect();
    if challenges.is_empty() {
        return response;
    }
    headers.remove(axum::http::header::WWW_AUTHENTICATE);
    for c in challenges {
        if let Ok(v) = axum::http::HeaderValue::from_str(&c) {
            headers.append(axum::http::header::WWW_AUTHENTICATE, v);
        }
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Challenge;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Challenge> {
        parts.extensions.get::<Self>().cloned().ok_or_else(|| Challenge {
            status: axum::http::StatusCode::UNAUTHORIZED,
            dpop: false,
            error: None,
            description: "this route is not behind the Tessera resource layer".into(),
            claims: None,
            scope: None,
            step_up: None,
        })
    }
}
