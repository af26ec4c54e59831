//! The one tower layer that authenticates the requests of a listener, HTTP
//! (axum) and gRPC (tonic) alike: it puts the request's [`Identity`] into
//! its extensions, or answers 401 with a JSON `{"error": …}` body and a
//! `WWW-Authenticate` challenge (HTTP), or a trailers-only gRPC status
//! `UNAUTHENTICATED` (gRPC requests). Refusals are counted, logged without
//! the credential, and answered after the throttle's delay when
//! credentials were presented.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use tower::{Layer, Service};

use super::{Failure, GroupAuth, Identity, RequestFacts};

/// A response body a refusal can be written into.
pub trait RefusalBody: Sized {
    /// A body of `bytes`.
    fn from_bytes(bytes: Bytes) -> Self;

    /// The redirect to the UI login for a browser asking for a page of the
    /// query listener without a session; `None` where there is none.
    fn login_redirect<B>(_req: &Request<B>, _base_path: &str) -> Option<Response<Self>> {
        None
    }
}

impl RefusalBody for axum::body::Body {
    fn from_bytes(bytes: Bytes) -> Self {
        axum::body::Body::from(bytes)
    }

    fn login_redirect<B>(req: &Request<B>, base_path: &str) -> Option<Response<Self>> {
        super::login::browser_redirect(req.method(), req.uri(), req.headers(), base_path)
    }
}

impl RefusalBody for tonic::body::Body {
    fn from_bytes(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            tonic::body::Body::empty()
        } else {
            tonic::body::Body::new(http_body_util::Full::new(bytes))
        }
    }
}

/// Authenticates every request with a group's methods; `None` (or a group
/// without methods) lets everything in as anonymous.
#[derive(Debug, Clone, Default)]
pub struct AuthLayer {
    auth: Option<Arc<GroupAuth>>,
}

impl AuthLayer {
    /// The layer of a group.
    pub fn new(auth: Option<Arc<GroupAuth>>) -> Self {
        AuthLayer { auth }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone().filter(|a| a.is_protected()),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Option<Arc<GroupAuth>>,
}

impl<S, B, R> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    R: RefusalBody + Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Response<R>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let auth = match &self.auth {
            Some(a) if !a.is_public(req.method(), req.uri().path()) => a.clone(),
            _ => {
                // The sessions of the UI login may appear after the layer was
                // built; an open group stays anonymous.
                req.extensions_mut().insert(Identity::anonymous());
                return Box::pin(self.inner.call(req));
            }
        };
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move {
            let peer = req.extensions().get::<crate::net::PeerAddr>().map(|p| p.0);
            let grpc = is_grpc(&req);
            let result = {
                let facts = RequestFacts {
                    headers: Some(req.headers()),
                    peer: peer.map(|p| p.ip()),
                    certificate: req.extensions().get::<crate::net::tls::PeerCertificate>(),
                };
                auth.authenticate(&facts).await
            };
            match result {
                Ok(identity) => {
                    auth.metrics.success(auth.group, identity.method);
                    tracing::trace!(group = auth.group.name(), subject = %identity.subject, method = identity.method.name(), "authenticated");
                    req.extensions_mut().insert(identity);
                    inner.call(req).await
                }
                Err(failure) => {
                    if failure == Failure::Missing
                        && let Some(redirect) = auth
                            .login_base_path()
                            .and_then(|base| R::login_redirect(&req, base))
                    {
                        return Ok(redirect);
                    }
                    auth.metrics.failure(auth.group, failure);
                    tracing::warn!(
                        group = auth.group.name(),
                        peer = ?peer,
                        reason = failure.reason(),
                        method = %req.method(),
                        path = req.uri().path(),
                        "authentication failed"
                    );
                    if failure.is_attempt() {
                        let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip());
                        tokio::time::sleep(auth.throttle.failure(ip)).await;
                    }
                    Ok(refusal(grpc, failure, auth.challenge()))
                }
            }
        })
    }
}

fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The answer to a refused request.
pub fn refusal<R: RefusalBody>(
    grpc: bool,
    failure: Failure,
    challenge: &'static str,
) -> Response<R> {
    if grpc {
        let mut resp = Response::new(R::from_bytes(Bytes::new()));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        h.insert("grpc-status", HeaderValue::from_static("16"));
        h.insert("grpc-message", HeaderValue::from_static(failure.message()));
        return resp;
    }
    let body = serde_json::json!({ "error": failure.message() }).to_string();
    let mut resp = Response::new(R::from_bytes(Bytes::from(body)));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::auth::{AuthMethod, GroupAuthSettings};
    use crate::security::Group;
    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    fn router(group: Group, tokens: &std::path::Path) -> (axum::Router, Arc<GroupAuth>) {
        let settings = GroupAuthSettings {
            tokens_file: Some(tokens.to_path_buf()),
            ..Default::default()
        };
        let auth =
            Arc::new(GroupAuth::load(group, &settings, Arc::default(), Arc::default()).unwrap());
        let app = axum::Router::new()
            .route(
                "/who",
                axum::routing::get(
                    |axum::Extension(id): axum::Extension<Identity>| async move {
                        format!("{}:{}", id.subject, id.method.name())
                    },
                ),
            )
            .route("/status", axum::routing::get(|| async { "up" }))
            .layer(AuthLayer::new(Some(auth.clone())));
        (app, auth)
    }

    async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
        let resp = app.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    #[tokio::test]
    async fn http_refusals_grpc_refusals_and_identities() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, "tok-1 ci\n").unwrap();
        let (app, auth) = router(Group::Query, &tokens);

        let (status, headers, body) =
            call(&app, Request::get("/who").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"spoor\"");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"], "authentication required");

        let req = Request::get("/who")
            .header("authorization", "Bearer tok-1")
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = call(&app, req).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ci:token"));

        // gRPC: a trailers-only UNAUTHENTICATED answer, HTTP 200, after the
        // failure delay (credentials were presented).
        let req = Request::post("/who")
            .header("content-type", "application/grpc")
            .header("authorization", "Bearer wrong")
            .body(Body::empty())
            .unwrap();
        let t = std::time::Instant::now();
        let (status, headers, body) = call(&app, req).await;
        assert!(t.elapsed() >= std::time::Duration::from_millis(90));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["grpc-status"], "16");
        assert_eq!(headers["grpc-message"], "invalid token");
        assert!(body.is_empty());
        assert_eq!(auth.metrics.failures(Group::Query, "unknown_token"), 1);
        assert_eq!(
            auth.metrics.failures(Group::Query, "missing_credentials"),
            1
        );
        assert_eq!(auth.throttle.len(), 1);
        // Only the query group's status page is not public.
        let (status, _, _) = call(&app, Request::get("/status").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn admin_probes_stay_open() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, "tok-1 prometheus\n").unwrap();
        let (app, _) = router(Group::Admin, &tokens);
        let (status, _, body) =
            call(&app, Request::get("/status").body(Body::empty()).unwrap()).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "up"));
        let (status, _, _) = call(&app, Request::get("/who").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn an_open_group_passes_an_anonymous_identity() {
        let app = axum::Router::new()
            .route(
                "/who",
                axum::routing::get(
                    |axum::Extension(id): axum::Extension<Identity>| async move {
                        assert_eq!(id.method, AuthMethod::Anonymous);
                        "ok"
                    },
                ),
            )
            .layer(AuthLayer::new(None));
        let (status, _, _) = call(&app, Request::get("/who").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
    }
}
