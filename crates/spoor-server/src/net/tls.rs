//! TLS on TCP listeners (rustls on ring): certificates reloaded on change, a
//! minimum version, optional client certificates (mTLS).
//!
//! [`TlsSettings`] is `security.tls` of the configuration file (flags
//! `--tls-*`). [`TlsServer`] is built from it once per process and shared by
//! every listener it applies to: one certificate resolver whose certificate a
//! background task swaps when the files change ([`TlsServer::spawn_reloader`]),
//! one client verifier, and two rustls configurations that differ only in
//! ALPN (`h2` + `http/1.1` for HTTP listeners, `h2` for gRPC ones).
//!
//! The handshake runs in the connection's own task ([`super::http`],
//! [`super::grpc`]); the verified client certificate's names are put in every
//! request's extensions as a [`PeerCertificate`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Deserializer};

use crate::security::Group;

/// The default interval between checks of the certificate and key files.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// `security.tls` of the configuration file (flags `--tls-*`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM, leaf first).
    #[serde(default)]
    pub cert_file: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key_file: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Whether clients must present a certificate; default `require` when
    /// `client_ca_file` is set, else `none`.
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
    /// The lowest TLS version accepted (`"1.2"`, the default, or `"1.3"`).
    #[serde(default)]
    pub min_version: MinVersion,
    /// How often the certificate and key files are checked for changes
    /// (Go duration, default `10s`).
    #[serde(default, deserialize_with = "go_duration")]
    pub reload_interval: Option<Duration>,
    /// The listener groups TLS applies to; default every group.
    #[serde(default)]
    pub groups: Option<Vec<Group>>,
}

/// Client certificates (mTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A client certificate is asked for and verified when presented.
    Optional,
    /// Connections without a valid client certificate are refused.
    Require,
}

impl std::str::FromStr for ClientAuth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(ClientAuth::None),
            "optional" => Ok(ClientAuth::Optional),
            "require" | "required" => Ok(ClientAuth::Require),
            other => Err(format!(
                "unknown client auth {other:?} (expected none, optional or require)"
            )),
        }
    }
}

/// The lowest TLS version accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl std::str::FromStr for MinVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "1.2" | "TLS1.2" | "tls1.2" => Ok(MinVersion::Tls12),
            "1.3" | "TLS1.3" | "tls1.3" => Ok(MinVersion::Tls13),
            other => Err(format!(
                "unknown TLS version {other:?} (expected 1.2 or 1.3)"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for MinVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // YAML reads `1.2` as a number: accept both forms.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Number(n) => format!("{n:.1}"),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn go_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    let nanos = spoor_model::parse_go_duration(text.trim())
        .map_err(|e| serde::de::Error::custom(format!("reload_interval: {e}")))?;
    if nanos <= 0 {
        return Err(serde::de::Error::custom("reload_interval must be positive"));
    }
    Ok(Some(Duration::from_nanos(nanos.unsigned_abs())))
}

impl TlsSettings {
    /// Whether TLS applies to listeners of `group`.
    pub fn applies_to(&self, group: Group) -> bool {
        self.groups.as_ref().is_none_or(|g| g.contains(&group))
    }

    /// The client certificate policy, with its default.
    pub fn effective_client_auth(&self) -> ClientAuth {
        self.client_auth
            .unwrap_or(if self.client_ca_file.is_some() {
                ClientAuth::Require
            } else {
                ClientAuth::None
            })
    }
}

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS: {what} is not set")]
    Missing { what: &'static str },
    #[error("TLS: cannot read {what} {path}: {message}")]
    Read {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("TLS: {what} {path} holds no {expected}")]
    Empty {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error("TLS: the certificate {cert} does not match the key {key}: {message}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error(
        "TLS: client_auth {client_auth} needs a client CA file (client_ca_file, --tls-client-ca-file)"
    )]
    NoClientCa { client_auth: &'static str },
    #[error("TLS: {0}")]
    Config(String),
}

/// The file's modification time and size: a change of either means the
/// file was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

/// Reads a certificate chain and its key and checks that they belong
/// together.
fn load_certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = read_certs(cert_file, "certificate file")?;
    let key_pem = std::fs::read(key_file).map_err(|e| TlsError::Read {
        what: "key file",
        path: key_file.to_owned(),
        message: e.to_string(),
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            what: "key file",
            path: key_file.to_owned(),
            expected: "PEM private key",
        },
        other => TlsError::Read {
            what: "key file",
            path: key_file.to_owned(),
            message: other.to_string(),
        },
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::Mismatch {
        cert: cert_file.to_owned(),
        key: key_file.to_owned(),
        message: e.to_string(),
    })
}

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| TlsError::Read {
        what,
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Read {
            what,
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_owned(),
            expected: "PEM certificate",
        });
    }
    Ok(certs)
}

/// The server certificate in use, swapped by the reloader.
#[derive(Debug)]
struct ReloadingResolver {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' stamps when `current` was loaded (or last tried).
    stamps: Mutex<(Option<Stamp>, Option<Stamp>)>,
}

impl ResolvesServerCert for ReloadingResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

impl ReloadingResolver {
    /// Loads the files again if their stamps changed. Returns whether a new
    /// certificate is in use. A bad new file is logged and the old
    /// certificate kept (tried again once the files change again).
    fn reload_if_changed(&self) -> bool {
        let now = (stamp(&self.cert_file), stamp(&self.key_file));
        {
            let mut seen = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return false;
            }
            *seen = now;
        }
        match load_certified_key(&self.cert_file, &self.key_file, &self.provider) {
            Ok(key) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
                tracing::info!(
                    cert_file = %self.cert_file.display(),
                    "TLS certificate reloaded"
                );
                true
            }
            Err(error) => {
                tracing::error!(
                    %error,
                    "TLS certificate files changed but cannot be used; keeping the previous certificate"
                );
                false
            }
        }
    }
}

/// Which ALPN protocols a listener offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// `h2` and `http/1.1`.
    Http,
    /// `h2` only.
    Grpc,
}

/// The TLS side of a process: built once from [`TlsSettings`], shared by the
/// listeners it applies to.
#[derive(Debug)]
pub struct TlsServer {
    settings: TlsSettings,
    resolver: Arc<ReloadingResolver>,
    http: Arc<ServerConfig>,
    grpc: Arc<ServerConfig>,
    reloader: std::sync::Once,
}

impl TlsServer {
    /// Reads the certificate, key and client CA files and builds the rustls
    /// configurations (ring; the process-wide default provider is not used).
    pub fn new(settings: &TlsSettings) -> Result<Arc<TlsServer>, TlsError> {
        if settings.cert_file.as_os_str().is_empty() {
            return Err(TlsError::Missing {
                what: "the certificate file (cert_file, --tls-cert-file)",
            });
        }
        if settings.key_file.as_os_str().is_empty() {
            return Err(TlsError::Missing {
                what: "the key file (key_file, --tls-key-file)",
            });
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let stamps = (stamp(&settings.cert_file), stamp(&settings.key_file));
        let key = load_certified_key(&settings.cert_file, &settings.key_file, &provider)?;
        let resolver = Arc::new(ReloadingResolver {
            cert_file: settings.cert_file.clone(),
            key_file: settings.key_file.clone(),
            provider: provider.clone(),
            current: RwLock::new(Arc::new(key)),
            stamps: Mutex::new(stamps),
        });
        let client_auth = settings.effective_client_auth();
        let verifier = match (client_auth, &settings.client_ca_file) {
            (ClientAuth::None, _) => None,
            (auth, None) => {
                return Err(TlsError::NoClientCa {
                    client_auth: if auth == ClientAuth::Require {
                        "require"
                    } else {
                        "optional"
                    },
                });
            }
            (auth, Some(ca_file)) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs(ca_file, "client CA file")? {
                    roots.add(cert).map_err(|e| TlsError::Read {
                        what: "client CA file",
                        path: ca_file.clone(),
                        message: e.to_string(),
                    })?;
                }
                let builder =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                let builder = if auth == ClientAuth::Optional {
                    builder.allow_unauthenticated()
                } else {
                    builder
                };
                Some(
                    builder
                        .build()
                        .map_err(|e| TlsError::Config(e.to_string()))?,
                )
            }
        };
        let versions: &[&'static rustls::SupportedProtocolVersion] = match settings.min_version {
            MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            MinVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let build = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, TlsError> {
            let builder = ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(versions)
                .map_err(|e| TlsError::Config(e.to_string()))?;
            let builder = match &verifier {
                Some(v) => builder.with_client_cert_verifier(v.clone()),
                None => builder.with_no_client_auth(),
            };
            let mut config = builder.with_cert_resolver(resolver.clone());
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Ok(Arc::new(config))
        };
        Ok(Arc::new(TlsServer {
            settings: settings.clone(),
            http: build(&[b"h2", b"http/1.1"])?,
            grpc: build(&[b"h2"])?,
            resolver,
            reloader: std::sync::Once::new(),
        }))
    }

    /// Its settings.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Whether TLS applies to listeners of `group`.
    pub fn applies_to(&self, group: Group) -> bool {
        self.settings.applies_to(group)
    }

    /// The acceptor for a listener offering `alpn`.
    pub fn acceptor(&self, alpn: Alpn) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(match alpn {
            Alpn::Http => self.http.clone(),
            Alpn::Grpc => self.grpc.clone(),
        })
    }

    /// Checks the certificate and key files now; true when a new
    /// certificate was loaded.
    pub fn reload_now(&self) -> bool {
        self.resolver.reload_if_changed()
    }

    /// Starts (once per [`TlsServer`]) the task that checks the files every
    /// `reload_interval` and swaps in a new certificate when they changed.
    /// It ends when the `TlsServer` is dropped. Needs a tokio runtime; without
    /// one, certificates are not reloaded (logged).
    pub fn spawn_reloader(self: &Arc<Self>) {
        self.reloader.call_once(|| {
            let Ok(handle) = tokio::runtime::Handle::try_current() else {
                tracing::warn!("no async runtime: TLS certificates will not be reloaded");
                return;
            };
            let every = self
                .settings
                .reload_interval
                .unwrap_or(DEFAULT_RELOAD_INTERVAL);
            let weak: Weak<TlsServer> = Arc::downgrade(self);
            handle.spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let Some(server) = weak.upgrade() else { break };
                    let resolver = server.resolver.clone();
                    drop(server);
                    // File reads block: off the async workers.
                    let _ = tokio::task::spawn_blocking(move || resolver.reload_if_changed()).await;
                }
            });
        });
    }

    /// The DER certificate served now (leaf first): for tests and logs.
    pub fn current_chain(&self) -> Vec<CertificateDer<'static>> {
        self.resolver
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .cert
            .clone()
    }
}

/// The verified client certificate of a connection (mTLS), put in every
/// request's extensions on that connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The subject's common name, if any.
    pub common_name: Option<String>,
    /// DNS names, e-mail addresses and URIs of the subject alternative names.
    pub dns_names: Vec<String>,
    pub emails: Vec<String>,
    pub uris: Vec<String>,
}

impl PeerCertificate {
    /// The names of the end-entity certificate `der`; `None` when it cannot
    /// be parsed (rustls verified it already, so this does not happen with
    /// a certificate that passed verification).
    pub fn from_der(der: &[u8]) -> Option<PeerCertificate> {
        x509::names(der)
    }

    /// The name an identity takes from the certificate: its common name, else
    /// its first DNS name, e-mail address or URI.
    pub fn subject(&self) -> Option<&str> {
        self.common_name
            .as_deref()
            .or_else(|| self.dns_names.first().map(String::as_str))
            .or_else(|| self.emails.first().map(String::as_str))
            .or_else(|| self.uris.first().map(String::as_str))
    }

    /// The verified client certificate of a finished server handshake.
    pub fn of_connection(conn: &rustls::ServerConnection) -> Option<PeerCertificate> {
        conn.peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| Self::from_der(leaf.as_ref()))
    }
}

/// Just enough DER to read a certificate's subject common name and subject
/// alternative names (RFC 5280). Every length is checked against the bytes
/// left; anything unexpected yields `None`, never a panic.
mod x509 {
    use super::PeerCertificate;

    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;
    const OCTET_STRING: u8 = 0x04;
    const BOOLEAN: u8 = 0x01;
    /// id-at-commonName, 2.5.4.3.
    const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
    /// id-ce-subjectAltName, 2.5.29.17.
    const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];

    /// One TLV: its tag, its contents and the bytes after it.
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        // Multi-byte tags do not occur in the fields read here.
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let (bytes, after) = (rest.get(..n)?, rest.get(n..)?);
            rest = after;
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        let value = rest.get(..len)?;
        Some((tag, value, rest.get(len..)?))
    }

    /// The contents of a TLV that must have tag `want`.
    fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
        let (tag, value, rest) = tlv(input)?;
        (tag == want).then_some((value, rest))
    }

    fn text(bytes: &[u8]) -> Option<String> {
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    }

    pub(super) fn names(der: &[u8]) -> Option<PeerCertificate> {
        let (cert, _) = expect(der, SEQUENCE)?;
        let (mut tbs, _) = expect(cert, SEQUENCE)?;
        // version [0] EXPLICIT, optional.
        if let Some((0xa0, _, rest)) = tlv(tbs) {
            tbs = rest;
        }
        // serialNumber, signature, issuer, validity.
        for _ in 0..4 {
            tbs = tlv(tbs)?.2;
        }
        let (subject, rest) = expect(tbs, SEQUENCE)?;
        // subjectPublicKeyInfo.
        let mut rest = tlv(rest)?.2;
        let mut out = PeerCertificate {
            common_name: common_name(subject),
            dns_names: Vec::new(),
            emails: Vec::new(),
            uris: Vec::new(),
        };
        // issuerUniqueID [1], subjectUniqueID [2], extensions [3].
        while let Some((tag, value, after)) = tlv(rest) {
            rest = after;
            if tag == 0xa3 {
                let (mut exts, _) = expect(value, SEQUENCE)?;
                while !exts.is_empty() {
                    let (ext, after) = expect(exts, SEQUENCE)?;
                    exts = after;
                    let (oid, mut body) = expect(ext, OID)?;
                    if let Some((BOOLEAN, _, after)) = tlv(body) {
                        body = after;
                    }
                    if oid == OID_SAN {
                        let (octets, _) = expect(body, OCTET_STRING)?;
                        alt_names(octets, &mut out)?;
                    }
                }
            }
        }
        Some(out)
    }

    fn common_name(mut name: &[u8]) -> Option<String> {
        while !name.is_empty() {
            let (set, after) = expect(name, SET)?;
            name = after;
            let mut set = set;
            while !set.is_empty() {
                let (atv, after) = expect(set, SEQUENCE)?;
                set = after;
                let (oid, value) = expect(atv, OID)?;
                if oid == OID_CN {
                    let (_, s, _) = tlv(value)?;
                    return text(s);
                }
            }
        }
        None
    }

    fn alt_names(octets: &[u8], out: &mut PeerCertificate) -> Option<()> {
        let (mut names, _) = expect(octets, SEQUENCE)?;
        while !names.is_empty() {
            let (tag, value, after) = tlv(names)?;
            names = after;
            match tag {
                0x81 => out.emails.extend(text(value)),
                0x82 => out.dns_names.extend(text(value)),
                0x86 => out.uris.extend(text(value)),
                _ => {}
            }
        }
        Some(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
        SanType,
    };
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    struct Ca {
        params: CertificateParams,
        key: KeyPair,
        pem: String,
    }

    fn ca(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// (certificate PEM, key PEM, certificate DER)
    fn leaf(ca: &Ca, cn: &str, sans: Vec<SanType>) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        if !cn.is_empty() {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        params.subject_alt_names = sans;
        let issuer = Issuer::from_params(&ca.params, &ca.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    fn server_leaf(ca: &Ca) -> (String, String, Vec<u8>) {
        leaf(
            ca,
            "localhost",
            vec![SanType::DnsName("localhost".try_into().unwrap())],
        )
    }

    struct Files {
        dir: tempfile::TempDir,
        ca: Ca,
    }

    impl Files {
        fn new() -> Files {
            Files {
                dir: tempfile::tempdir().unwrap(),
                ca: ca("test CA"),
            }
        }
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let p = self.path(name);
            let tmp = self.path(&format!("{name}.tmp"));
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, &p).unwrap();
            p
        }
        fn settings(&self) -> (TlsSettings, Vec<u8>) {
            let (cert, key, der) = server_leaf(&self.ca);
            let settings = TlsSettings {
                cert_file: self.write("server.pem", &cert),
                key_file: self.write("server.key", &key),
                ..TlsSettings::default()
            };
            (settings, der)
        }
    }

    fn client_config(
        ca_pem: &str,
        versions: &[&'static rustls::SupportedProtocolVersion],
        identity: Option<(&str, &str)>,
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
        Arc::new(match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap(),
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        })
    }

    /// Serves one connection with `server`: echoes one line and returns the
    /// client certificate it saw. The client's result: the server
    /// certificate it got, or the error.
    async fn handshake(
        server: &Arc<TlsServer>,
        client: Arc<rustls::ClientConfig>,
    ) -> (
        Result<Vec<u8>, String>,
        Result<Option<PeerCertificate>, String>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = server.acceptor(Alpn::Http);
        let server_side = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
            let peer = PeerCertificate::of_connection(tls.get_ref().1);
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            tls.write_all(&buf).await.map_err(|e| e.to_string())?;
            tls.flush().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(peer)
        });
        let client_side = async {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let connector = tokio_rustls::TlsConnector::from(client);
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            let cert = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
            // TLS 1.3: a refused client certificate shows on the first read.
            tls.write_all(b"hello").await.map_err(|e| e.to_string())?;
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(cert)
        }
        .await;
        let server_result = server_side.await.unwrap();
        (client_side, server_result)
    }

    #[tokio::test]
    async fn serves_the_certificate_and_reloads_it_when_the_files_change() {
        let files = Files::new();
        let (settings, first) = files.settings();
        let server = TlsServer::new(&settings).unwrap();
        let tls12 = &[&rustls::version::TLS12, &rustls::version::TLS13][..];
        let (got, _) = handshake(&server, client_config(&files.ca.pem, tls12, None)).await;
        assert_eq!(got.unwrap(), first);
        assert!(!server.reload_now(), "nothing changed");

        let (cert, key, second) = server_leaf(&files.ca);
        files.write("server.pem", &cert);
        files.write("server.key", &key);
        assert!(server.reload_now(), "the new files are loaded");
        let (got, _) = handshake(&server, client_config(&files.ca.pem, tls12, None)).await;
        assert_eq!(got.unwrap(), second);
    }

    #[tokio::test]
    async fn the_background_reloader_swaps_the_certificate() {
        let files = Files::new();
        let (mut settings, _) = files.settings();
        settings.reload_interval = Some(Duration::from_millis(50));
        let server = TlsServer::new(&settings).unwrap();
        server.spawn_reloader();
        let (cert, key, second) = server_leaf(&files.ca);
        // A different size guarantees a new stamp even within one mtime tick.
        files.write("server.pem", &format!("{cert}\n"));
        files.write("server.key", &key);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while server.current_chain()[0].as_ref() != second.as_slice() {
            assert!(tokio::time::Instant::now() < deadline, "not reloaded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_bad_new_file_keeps_the_old_certificate() {
        let files = Files::new();
        let (settings, first) = files.settings();
        let server = TlsServer::new(&settings).unwrap();
        // Garbage, then a certificate whose key is another one's.
        files.write("server.pem", "not a certificate\n");
        assert!(!server.reload_now());
        assert_eq!(server.current_chain()[0].as_ref(), first.as_slice());
        let (cert, _, _) = server_leaf(&files.ca);
        let (_, other_key, _) = server_leaf(&files.ca);
        files.write("server.pem", &cert);
        files.write("server.key", &other_key);
        assert!(!server.reload_now());
        let tls = &[&rustls::version::TLS13][..];
        let (got, _) = handshake(&server, client_config(&files.ca.pem, tls, None)).await;
        assert_eq!(got.unwrap(), first, "the old certificate is still served");
    }

    #[test]
    fn clear_errors_for_missing_and_mismatched_files() {
        let files = Files::new();
        let (settings, _) = files.settings();
        let missing = TlsSettings {
            cert_file: files.path("nope.pem"),
            ..settings.clone()
        };
        let e = TlsServer::new(&missing).unwrap_err().to_string();
        assert!(
            e.contains("cannot read certificate file") && e.contains("nope.pem"),
            "{e}"
        );

        let (_, other_key, _) = server_leaf(&files.ca);
        let mismatched = TlsSettings {
            key_file: files.write("other.key", &other_key),
            ..settings.clone()
        };
        let e = TlsServer::new(&mismatched).unwrap_err().to_string();
        assert!(e.contains("does not match the key"), "{e}");

        let empty = TlsSettings {
            key_file: files.write("empty.key", "nothing here\n"),
            ..settings.clone()
        };
        let e = TlsServer::new(&empty).unwrap_err().to_string();
        assert!(e.contains("holds no PEM private key"), "{e}");

        let no_ca = TlsSettings {
            client_auth: Some(ClientAuth::Require),
            ..settings
        };
        let e = TlsServer::new(&no_ca).unwrap_err().to_string();
        assert!(e.contains("needs a client CA file"), "{e}");
    }

    #[tokio::test]
    async fn min_version_1_3_refuses_a_tls_1_2_client() {
        let files = Files::new();
        let (mut settings, _) = files.settings();
        settings.min_version = MinVersion::Tls13;
        let server = TlsServer::new(&settings).unwrap();
        let only12 = &[&rustls::version::TLS12][..];
        let (got, _) = handshake(&server, client_config(&files.ca.pem, only12, None)).await;
        assert!(got.is_err(), "a TLS 1.2-only client is refused");
        let only13 = &[&rustls::version::TLS13][..];
        let (got, _) = handshake(&server, client_config(&files.ca.pem, only13, None)).await;
        assert!(got.is_ok(), "{got:?}");

        // The default accepts 1.2.
        let (settings, _) = files.settings();
        let server = TlsServer::new(&settings).unwrap();
        let (got, _) = handshake(&server, client_config(&files.ca.pem, only12, None)).await;
        assert!(got.is_ok(), "{got:?}");
    }

    #[tokio::test]
    async fn mtls_require_refuses_clients_without_a_valid_certificate() {
        let files = Files::new();
        let (mut settings, _) = files.settings();
        settings.client_ca_file = Some(files.write("clients.pem", &files.ca.pem));
        assert_eq!(settings.effective_client_auth(), ClientAuth::Require);
        let server = TlsServer::new(&settings).unwrap();
        let v = &[&rustls::version::TLS13, &rustls::version::TLS12][..];

        let (got, seen) = handshake(&server, client_config(&files.ca.pem, v, None)).await;
        assert!(got.is_err() && seen.is_err(), "no certificate: refused");

        let stranger = ca("another CA");
        let (c, k, _) = leaf(&stranger, "mallory", vec![]);
        let (got, seen) = handshake(&server, client_config(&files.ca.pem, v, Some((&c, &k)))).await;
        assert!(
            got.is_err() && seen.is_err(),
            "untrusted certificate: refused"
        );

        let (c, k, _) = leaf(
            &files.ca,
            "alice",
            vec![
                SanType::DnsName("alice.example".try_into().unwrap()),
                SanType::Rfc822Name("alice@example.com".try_into().unwrap()),
                SanType::URI("spiffe://example/alice".try_into().unwrap()),
            ],
        );
        let (got, seen) = handshake(&server, client_config(&files.ca.pem, v, Some((&c, &k)))).await;
        assert!(got.is_ok(), "{got:?}");
        let peer = seen.unwrap().expect("a peer certificate");
        assert_eq!(
            peer,
            PeerCertificate {
                common_name: Some("alice".into()),
                dns_names: vec!["alice.example".into()],
                emails: vec!["alice@example.com".into()],
                uris: vec!["spiffe://example/alice".into()],
            }
        );
        assert_eq!(peer.subject(), Some("alice"));

        // Optional: both kinds of clients pass; only one has a certificate.
        settings.client_auth = Some(ClientAuth::Optional);
        let server = TlsServer::new(&settings).unwrap();
        let (got, seen) = handshake(&server, client_config(&files.ca.pem, v, None)).await;
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(seen.unwrap(), None);
    }

    #[test]
    fn peer_certificate_names_without_a_common_name() {
        let ca = ca("CA");
        let (_, _, der) = leaf(
            &ca,
            "",
            vec![SanType::DnsName("svc.example".try_into().unwrap())],
        );
        let peer = PeerCertificate::from_der(&der).unwrap();
        assert_eq!(peer.common_name, None);
        assert_eq!(peer.subject(), Some("svc.example"));
        // Truncated or garbage input: None, no panic.
        for n in 0..der.len() {
            let _ = PeerCertificate::from_der(&der[..n]);
        }
        assert_eq!(PeerCertificate::from_der(&[0x30, 0x84, 0xff, 0xff]), None);
    }

    #[test]
    fn settings_parse_from_yaml_forms() {
        let s: TlsSettings = serde_json::from_value(serde_json::json!({
            "cert_file": "c.pem", "key_file": "k.pem", "min_version": 1.3,
            "client_auth": "optional", "reload_interval": "2s", "groups": ["ingest", "query"],
        }))
        .unwrap();
        assert_eq!(s.min_version, MinVersion::Tls13);
        assert_eq!(s.client_auth, Some(ClientAuth::Optional));
        assert_eq!(s.reload_interval, Some(Duration::from_secs(2)));
        assert!(s.applies_to(Group::Query) && !s.applies_to(Group::Admin));
        let s: TlsSettings =
            serde_json::from_value(serde_json::json!({"min_version": "1.2"})).unwrap();
        assert_eq!(s.min_version, MinVersion::Tls12);
        assert!(s.applies_to(Group::Admin));
    }
}
