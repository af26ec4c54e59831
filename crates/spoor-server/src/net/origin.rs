//! Requests a browser may be tricked into making (ADR 0018):
//!
//! - **DNS rebinding**: a page on `attacker.test` whose name later resolves
//!   to 127.0.0.1 reads a loopback server as same-origin. Its requests carry
//!   `Host: attacker.test`, so a listener bound to a loopback address accepts
//!   only loopback names, its own address and configured names.
//! - **Cross-site requests**: any page can POST a `text/plain` body to a
//!   receiver without a preflight. Receivers refuse requests whose `Origin`
//!   is neither the listener itself nor configured.
//! - **CORS** for the query API and, when configured, the receivers.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};

/// Which `Host` names a listener accepts.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    any: bool,
    listen_ip: Option<IpAddr>,
    /// Lowercase names; `*.x` entries accept subdomains of `x`.
    names: Vec<String>,
}

impl HostPolicy {
    /// The policy of a listener bound to `addr` with `configured` extra names
    /// (`*` = any Host). With nothing configured, a listener bound to a
    /// non-loopback address (e.g. `0.0.0.0`) accepts any Host: it is reached
    /// by names Spoor cannot know.
    pub fn for_listener(addr: SocketAddr, configured: &[String]) -> Self {
        let configured: Vec<String> = configured
            .iter()
            .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let any = configured.iter().any(|h| h == "*")
            || (configured.is_empty() && !addr.ip().is_loopback());
        HostPolicy {
            any,
            listen_ip: (!addr.ip().is_unspecified()).then_some(addr.ip()),
            names: configured,
        }
    }

    /// Whether a request with this `Host` (or `:authority`) is accepted.
    pub fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let name = host_name(host);
        if let Ok(ip) = name.parse::<IpAddr>()
            && (ip.is_loopback() || Some(ip) == self.listen_ip)
        {
            return true;
        }
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        self.names.iter().any(|n| match n.strip_prefix("*.") {
            Some(domain) => name.len() > domain.len() + 1 && name.ends_with(&format!(".{domain}")),
            None => *n == name,
        })
    }
}

/// The host part of a `Host` header value, lowercase, without port, brackets
/// or a trailing dot.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// How a listener treats the `Origin` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginRule {
    /// No check (admin, sampling).
    Ignore,
    /// Receivers: a foreign `Origin` not configured is refused with 403.
    Receiver,
    /// Query API: CORS headers for configured origins; state-changing
    /// requests from other origins are refused.
    Query,
}

/// A listener's Host and Origin checks.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    pub hosts: HostPolicy,
    pub rule: OriginRule,
    any_origin: bool,
    origins: Vec<String>,
}

/// What the checks decided for one request.
pub(crate) enum Verdict {
    /// Serve it; add these CORS headers to the response.
    Pass(Option<HeaderValue>),
    /// Answer this instead (refusal or preflight).
    Answer(Response<Body>, Refusal),
}

/// Why a request was answered without reaching the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Host,
    Origin,
    /// A CORS preflight that was answered positively.
    None,
}

impl AccessPolicy {
    pub fn new(hosts: HostPolicy, rule: OriginRule, origins: &[String]) -> Self {
        let origins: Vec<String> = origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect();
        AccessPolicy {
            hosts,
            rule,
            any_origin: origins.iter().any(|o| o == "*"),
            origins,
        }
    }

    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        if self.any_origin {
            return true;
        }
        let origin = origin.trim().to_ascii_lowercase();
        // Same origin: a page served by this very listener (directly, or
        // behind a TLS-terminating proxy that keeps the Host).
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if let (Some(authority), Some(host)) = (authority, host)
            && authority == host.trim().to_ascii_lowercase()
        {
            return true;
        }
        self.origins.contains(&origin)
    }

    /// Checks a request's Host and Origin.
    pub(crate) fn check<B>(&self, req: &Request<B>) -> Verdict {
        let host = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            });
        let host = match (req.headers().get(header::HOST), host) {
            (Some(v), _) if v.to_str().is_err() => {
                return Verdict::Answer(
                    forbidden("the Host header is not valid text\n".into()),
                    Refusal::Host,
                );
            }
            (_, h) => h,
        };
        if let Some(h) = &host
            && !self.hosts.allows(h)
        {
            return Verdict::Answer(
                forbidden(format!(
                    "Host {h:?} is not allowed on this listener (protection against DNS rebinding); \
                     add the name with --allowed-hosts (SPOOR_ALLOWED_HOSTS), or `*` to accept any\n"
                )),
                Refusal::Host,
            );
        }
        if self.rule == OriginRule::Ignore {
            return Verdict::Pass(None);
        }
        let Some(origin) = req.headers().get(header::ORIGIN) else {
            return Verdict::Pass(None);
        };
        let origin_text = origin.to_str().unwrap_or("");
        let allowed = self.origin_allowed(origin_text, host.as_deref());
        let preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let flag = match self.rule {
            OriginRule::Receiver => "--receiver-allowed-origins (SPOOR_RECEIVER_ALLOWED_ORIGINS)",
            _ => "--cors-allowed-origins (SPOOR_CORS_ALLOWED_ORIGINS)",
        };
        if !allowed {
            let refuse = match self.rule {
                OriginRule::Receiver => true,
                // Reads are safe: without CORS headers the page cannot see
                // the answer. Anything else could change state.
                _ => preflight || !matches!(*req.method(), Method::GET | Method::HEAD),
            };
            if refuse {
                return Verdict::Answer(
                    forbidden(format!(
                        "cross-origin requests from {origin_text:?} are refused; allow the origin with {flag}\n"
                    )),
                    Refusal::Origin,
                );
            }
            return Verdict::Pass(None);
        }
        if preflight {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::NO_CONTENT;
            let h = resp.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(match self.rule {
                    OriginRule::Receiver => "POST, OPTIONS",
                    _ => "GET, HEAD, POST, OPTIONS",
                }),
            );
            if let Some(requested) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
            }
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
            return Verdict::Answer(resp, Refusal::None);
        }
        Verdict::Pass(Some(origin.clone()))
    }
}

/// Adds the CORS headers of an allowed cross-origin request to its answer.
pub(crate) fn add_cors(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Retry-After"),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

fn forbidden(message: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(message));
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        "127.0.0.1:16686".parse().unwrap()
    }

    #[test]
    fn loopback_listeners_accept_loopback_names_only() {
        let p = HostPolicy::for_listener(loopback(), &[]);
        for ok in [
            "localhost",
            "localhost:16686",
            "127.0.0.1:16686",
            "127.0.0.2",
            "[::1]:16686",
            "LOCALHOST.",
            "app.localhost:1",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "attacker.test",
            "attacker.test:16686",
            "10.0.0.1",
            "localhost.attacker.test",
            "",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
    }

    #[test]
    fn configured_names_and_wildcards() {
        let p = HostPolicy::for_listener(
            loopback(),
            &["spoor.internal".into(), "*.example.test".into()],
        );
        assert!(p.allows("spoor.internal:16686"));
        assert!(p.allows("a.example.test"));
        assert!(!p.allows("example.test"));
        assert!(!p.allows("evil.test"));
        assert!(HostPolicy::for_listener(loopback(), &["*".into()]).allows("evil.test"));
    }

    #[test]
    fn unspecified_addresses_accept_any_host_unless_configured() {
        let any: SocketAddr = "0.0.0.0:16686".parse().unwrap();
        assert!(HostPolicy::for_listener(any, &[]).allows("spoor.prod.internal"));
        let p = HostPolicy::for_listener(any, &["spoor.prod.internal".into()]);
        assert!(p.allows("spoor.prod.internal"));
        assert!(p.allows("localhost"));
        assert!(!p.allows("attacker.test"));
        let lan: SocketAddr = "10.1.2.3:80".parse().unwrap();
        let p = HostPolicy::for_listener(lan, &["x.test".into()]);
        assert!(p.allows("10.1.2.3:80"));
    }

    fn req(method: Method, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri("/api/v2/spans");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn receivers_refuse_foreign_origins() {
        let p = AccessPolicy::new(
            HostPolicy::for_listener(loopback(), &[]),
            OriginRule::Receiver,
            &[],
        );
        let r = req(
            Method::POST,
            &[("host", "127.0.0.1:9411"), ("origin", "https://evil.test")],
        );
        assert!(matches!(p.check(&r), Verdict::Answer(_, Refusal::Origin)));
        let r = req(Method::POST, &[("host", "127.0.0.1:9411")]);
        assert!(matches!(p.check(&r), Verdict::Pass(None)));
        let r = req(
            Method::POST,
            &[
                ("host", "127.0.0.1:9411"),
                ("origin", "http://127.0.0.1:9411"),
            ],
        );
        assert!(matches!(p.check(&r), Verdict::Pass(Some(_))), "same origin");
        let p = AccessPolicy::new(
            HostPolicy::for_listener(loopback(), &[]),
            OriginRule::Receiver,
            &["https://app.test".into()],
        );
        let r = req(
            Method::OPTIONS,
            &[
                ("host", "127.0.0.1:4318"),
                ("origin", "https://app.test"),
                ("access-control-request-method", "POST"),
            ],
        );
        assert!(matches!(p.check(&r), Verdict::Answer(_, Refusal::None)));
    }

    #[test]
    fn query_reads_pass_without_cors_headers() {
        let p = AccessPolicy::new(
            HostPolicy::for_listener(loopback(), &[]),
            OriginRule::Query,
            &[],
        );
        let r = req(
            Method::GET,
            &[("host", "localhost:16686"), ("origin", "https://evil.test")],
        );
        assert!(matches!(p.check(&r), Verdict::Pass(None)));
        let r = req(
            Method::POST,
            &[("host", "localhost:16686"), ("origin", "https://evil.test")],
        );
        assert!(matches!(p.check(&r), Verdict::Answer(_, Refusal::Origin)));
        let r = req(Method::GET, &[("host", "evil.test:16686")]);
        assert!(matches!(p.check(&r), Verdict::Answer(_, Refusal::Host)));
    }
}
