//! Credentials on outbound requests: a bearer token read from a file (and
//! read again when the file changes), extra headers, and the tenant header.
//! The same [`Credentials`] go on every HTTP request ([`crate::http`]) and
//! every gRPC call ([`crate::grpc`]) of a client.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};
use parking_lot::Mutex;

use crate::ClientError;

/// The tenant header Spoor (and Jaeger) read by default.
pub const DEFAULT_TENANT_HEADER: &str = "x-tenant";

/// How often the token file's size and time are looked at, at most.
const TOKEN_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What outbound requests carry (flags such as `--bearer-token-file`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialOptions {
    /// File whose content (trimmed) is sent as `Authorization: Bearer …`.
    pub bearer_token_file: Option<PathBuf>,
    /// Extra headers, in order (`k=v` pairs, see [`parse_headers`]).
    pub headers: Vec<(String, String)>,
    /// The tenant, sent in `tenant_header`.
    pub tenant: Option<String>,
    /// The tenant header's name; [`DEFAULT_TENANT_HEADER`] when `None`.
    pub tenant_header: Option<String>,
}

impl CredentialOptions {
    /// Whether nothing is added to requests.
    pub fn is_empty(&self) -> bool {
        self.bearer_token_file.is_none() && self.headers.is_empty() && self.tenant.is_none()
    }
}

/// Parses `k=v,k2=v2` (as OpenTelemetry's `OTEL_EXPORTER_OTLP_HEADERS`):
/// pairs separated by commas, names and values trimmed.
pub fn parse_headers(spec: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in spec.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let Some((k, v)) = pair.split_once('=') else {
            return Err(format!("header {pair:?} is not NAME=VALUE"));
        };
        let (k, v) = (k.trim(), v.trim());
        HeaderName::try_from(k).map_err(|_| format!("{k:?} is not a valid header name"))?;
        HeaderValue::try_from(v).map_err(|_| format!("the value of header {k:?} is not valid"))?;
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// The headers every request of a client carries. Cheap to clone.
#[derive(Clone, Default)]
pub struct Credentials(Option<Arc<Inner>>);

struct Inner {
    fixed: Vec<(HeaderName, HeaderValue)>,
    token: Option<TokenFile>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values: they may be secrets.
        let names: Vec<&str> = self
            .0
            .iter()
            .flat_map(|i| i.fixed.iter().map(|(k, _)| k.as_str()))
            .collect();
        f.debug_struct("Credentials")
            .field("headers", &names)
            .field(
                "bearer_token_file",
                &self
                    .0
                    .as_ref()
                    .and_then(|i| i.token.as_ref().map(|t| &t.path)),
            )
            .finish()
    }
}

impl Credentials {
    /// Checks the options and reads the token file once (a missing or empty
    /// file is an error here, so a typo shows at start).
    pub fn new(options: &CredentialOptions) -> Result<Credentials, ClientError> {
        if options.is_empty() {
            return Ok(Credentials(None));
        }
        let mut fixed = Vec::new();
        for (k, v) in &options.headers {
            let name = HeaderName::try_from(k.as_str())
                .map_err(|_| ClientError::Config(format!("{k:?} is not a valid header name")))?;
            let mut value = HeaderValue::try_from(v.as_str()).map_err(|_| {
                ClientError::Config(format!("the value of header {k:?} is not valid"))
            })?;
            value.set_sensitive(true);
            fixed.push((name, value));
        }
        if let Some(tenant) = &options.tenant {
            let header = options
                .tenant_header
                .as_deref()
                .unwrap_or(DEFAULT_TENANT_HEADER);
            let name = HeaderName::try_from(header).map_err(|_| {
                ClientError::Config(format!("{header:?} is not a valid header name"))
            })?;
            let value = HeaderValue::try_from(tenant.as_str())
                .map_err(|_| ClientError::Config(format!("tenant {tenant:?} is not valid")))?;
            fixed.push((name, value));
        }
        let token = match &options.bearer_token_file {
            None => None,
            Some(path) => {
                let file = TokenFile {
                    path: path.clone(),
                    state: Mutex::new(None),
                };
                let (stamp, value) = file.read()?;
                *file.state.lock() = Some(TokenState {
                    checked: Instant::now(),
                    stamp,
                    value,
                });
                Some(file)
            }
        };
        Ok(Credentials(Some(Arc::new(Inner { fixed, token }))))
    }

    /// Whether requests get no header.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Adds the headers to `headers` (replacing same-named ones).
    pub fn apply(&self, headers: &mut HeaderMap) {
        let Some(inner) = &self.0 else {
            return;
        };
        for (k, v) in &inner.fixed {
            headers.insert(k.clone(), v.clone());
        }
        if let Some(token) = &inner.token {
            headers.insert(AUTHORIZATION, token.current());
        }
    }
}

/// A token file, read again when its size or modification time changed.
struct TokenFile {
    path: PathBuf,
    state: Mutex<Option<TokenState>>,
}

struct TokenState {
    checked: Instant,
    stamp: (Option<SystemTime>, u64),
    value: HeaderValue,
}

impl TokenFile {
    fn stamp(&self) -> std::io::Result<(Option<SystemTime>, u64)> {
        let meta = std::fs::metadata(&self.path)?;
        Ok((meta.modified().ok(), meta.len()))
    }

    fn read(&self) -> Result<((Option<SystemTime>, u64), HeaderValue), ClientError> {
        let path = self.path.display();
        let stamp = self.stamp().map_err(|source| ClientError::Io {
            what: format!("cannot read the bearer token file {path}"),
            source,
        })?;
        let text = std::fs::read_to_string(&self.path).map_err(|source| ClientError::Io {
            what: format!("cannot read the bearer token file {path}"),
            source,
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(ClientError::Config(format!(
                "the bearer token file {path} is empty"
            )));
        }
        let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
            ClientError::Config(format!(
                "the bearer token in {path} holds characters a header cannot carry"
            ))
        })?;
        value.set_sensitive(true);
        Ok((stamp, value))
    }

    /// The header value, re-read when the file changed (checked at most
    /// once a second). A file that became unreadable keeps the last token.
    fn current(&self) -> HeaderValue {
        let mut state = self.state.lock();
        let Some(s) = state.as_mut() else {
            // Not reached: `Credentials::new` read the file once.
            return HeaderValue::from_static("");
        };
        if s.checked.elapsed() < TOKEN_CHECK_INTERVAL {
            return s.value.clone();
        }
        s.checked = Instant::now();
        match self.stamp() {
            Ok(stamp) if stamp == s.stamp => {}
            _ => match self.read() {
                Ok((stamp, value)) => {
                    tracing::info!(file = %self.path.display(), "bearer token file re-read");
                    s.stamp = stamp;
                    s.value = value;
                }
                Err(e) => {
                    tracing::warn!(
                        file = %self.path.display(),
                        error = %e,
                        "cannot re-read the bearer token file; keeping the last token"
                    );
                }
            },
        }
        s.value.clone()
    }
}

/// TLS and credentials of one outbound client: what the flags say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSecurity {
    /// TLS options.
    pub tls: crate::tls::TlsOptions,
    /// What requests carry.
    pub credentials: CredentialOptions,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn header_lists_parse_like_otel_headers() {
        assert_eq!(
            parse_headers(" a=1 , b = two=2,").unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "two=2".into())]
        );
        assert!(parse_headers("novalue").is_err());
        assert!(parse_headers("bad name=1").is_err());
    }

    #[test]
    fn the_token_file_is_read_again_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("spoor-client-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "first\n").unwrap();
        let creds = Credentials::new(&CredentialOptions {
            bearer_token_file: Some(path.clone()),
            tenant: Some("team-a".into()),
            headers: vec![("x-extra".into(), "1".into())],
            ..CredentialOptions::default()
        })
        .unwrap();
        let mut h = HeaderMap::new();
        creds.apply(&mut h);
        assert_eq!(h["authorization"], "Bearer first");
        assert_eq!(h["x-tenant"], "team-a");
        assert_eq!(h["x-extra"], "1");
        assert!(!format!("{creds:?}").contains("first"));

        std::fs::write(&path, "second-token\n").unwrap();
        std::thread::sleep(TOKEN_CHECK_INTERVAL + Duration::from_millis(50));
        creds.apply(&mut h);
        assert_eq!(h["authorization"], "Bearer second-token");

        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(TOKEN_CHECK_INTERVAL + Duration::from_millis(50));
        creds.apply(&mut h);
        assert_eq!(h["authorization"], "Bearer second-token");

        assert!(
            Credentials::new(&CredentialOptions {
                bearer_token_file: Some(path),
                ..CredentialOptions::default()
            })
            .is_err()
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
