//! spoor-client's TLS and credentials against in-test rustls servers: an
//! HTTP/1.1 server (the HTTP client) and a tonic OTLP gRPC server (the
//! gRPC channel), both with a CA made here. Servers are verified with the
//! CA and refused without it; a client certificate is presented for mTLS;
//! the bearer token, extra headers and tenant reach the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use spoor_client::{
    ClientSecurity, Connector, CredentialOptions, Outcome, Protocol, SenderOptions, TlsOptions,
};
use spoor_proto::otlp_collector::trace_service_server::{TraceService, TraceServiceServer};
use spoor_proto::otlp_collector::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A CA, a server certificate for 127.0.0.1 and `localhost`, and a client
/// certificate (CN `agent-1`), as PEM files in a directory of their own.
struct TestPki {
    dir: PathBuf,
    ca_file: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn validity(params: &mut CertificateParams) {
    let now = std::time::SystemTime::now();
    let day = Duration::from_secs(86_400);
    params.not_before = (now - day).into();
    params.not_after = (now + 30 * day).into();
}

fn pki() -> TestPki {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "spoor-client-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "spoor-client test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut ca);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca, &ca_key);
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca_file = write("ca.pem", ca_cert.pem());

    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut server);
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client.distinguished_name = DistinguishedName::new();
    client
        .distinguished_name
        .push(DnType::CommonName, "agent-1");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut client);
    let client_cert = client.signed_by(&client_key, &issuer).unwrap();

    TestPki {
        ca_file,
        server_cert: write("server.pem", server_cert.pem()),
        server_key: write("server.key", server_key.serialize_pem()),
        client_cert: write("client.pem", client_cert.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
        dir,
    }
}

/// A server configuration: the PKI's server certificate, client
/// certificates verified against its CA when presented, `alpn` offered.
fn server_config(pki: &TestPki, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&pki.ca_file).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .unwrap();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.server_cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// What the HTTP server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    client_cert: bool,
}

/// An HTTPS/1.1 server answering `200 ok` to every request (one per
/// connection), recording each request head and whether a client
/// certificate was presented.
async fn https_server(pki: &TestPki) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(pki, &[]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, log) = (acceptor.clone(), log.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let client_cert = tls.get_ref().1.peer_certificates().is_some();
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                log.lock().push(Seen {
                    head: String::from_utf8_lossy(&head).into_owned(),
                    client_cert,
                });
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://127.0.0.1:{}", addr.port()), seen)
}

fn with_ca(pki: &TestPki) -> ClientSecurity {
    ClientSecurity {
        tls: TlsOptions {
            ca_file: Some(pki.ca_file.clone()),
            ..TlsOptions::default()
        },
        ..ClientSecurity::default()
    }
}

#[tokio::test]
async fn https_is_verified_with_the_ca_and_refused_without_it() {
    let pki = pki();
    let (base, seen) = https_server(&pki).await;
    let url = format!("{base}/api/services");

    let client = spoor_client::http::client_with(&with_ca(&pki)).unwrap();
    let (status, body) = spoor_client::http::get(&client, &url, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((status, &body[..]), (200, &b"ok"[..]));
    assert!(!seen.lock()[0].client_cert);

    // Without the CA the server's certificate is unknown: no request is made.
    let plain = spoor_client::http::client();
    let err = spoor_client::http::get(&plain, &url, Duration::from_secs(5))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
    // A name the certificate does not carry is refused too.
    let mut wrong_name = with_ca(&pki);
    wrong_name.tls.server_name = Some("collector.example".into());
    let client = spoor_client::http::client_with(&wrong_name).unwrap();
    let err = spoor_client::http::get(&client, &url, Duration::from_secs(5))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("certificate"), "{err}");
    // ... and a matching override is accepted.
    let mut right_name = with_ca(&pki);
    right_name.tls.server_name = Some("localhost".into());
    let client = spoor_client::http::client_with(&right_name).unwrap();
    spoor_client::http::get(&client, &url, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(seen.lock().len(), 2);
}

#[tokio::test]
async fn https_carries_the_client_certificate_token_headers_and_tenant() {
    let pki = pki();
    let (base, seen) = https_server(&pki).await;
    let token = pki.dir.join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let mut security = with_ca(&pki);
    security.tls.cert_file = Some(pki.client_cert.clone());
    security.tls.key_file = Some(pki.client_key.clone());
    security.credentials = CredentialOptions {
        bearer_token_file: Some(token),
        headers: spoor_client::credentials::parse_headers("x-team=search,x-env=test").unwrap(),
        tenant: Some("team-a".into()),
        tenant_header: None,
    };
    let client = spoor_client::http::client_with(&security).unwrap();
    let (status, _) = spoor_client::http::get(&client, &format!("{base}/"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let seen = seen.lock()[0].clone();
    assert!(seen.client_cert, "the client certificate was presented");
    let head = seen.head.to_ascii_lowercase();
    for line in [
        "authorization: bearer s3cret-token\r\n",
        "x-tenant: team-a\r\n",
        "x-team: search\r\n",
        "x-env: test\r\n",
    ] {
        assert!(head.contains(line), "{line:?} missing in {head}");
    }

    // A key without its certificate (and a missing CA file) fail at once.
    let mut half = with_ca(&pki);
    half.tls.key_file = Some(pki.client_key.clone());
    assert!(spoor_client::http::client_with(&half).is_err());
    let mut missing = with_ca(&pki);
    missing.tls.ca_file = Some(pki.dir.join("nope.pem"));
    assert!(spoor_client::http::client_with(&missing).is_err());
}

/// A TLS stream tonic's server can serve.
struct TlsIo(tokio_rustls::server::TlsStream<TcpStream>);

impl tonic::transport::server::Connected for TlsIo {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for TlsIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// An OTLP gRPC trace receiver recording the metadata of each export.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<tonic::metadata::MetadataMap>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().push(request.metadata().clone());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn grpc_server(pki: &TestPki) -> (String, Receiver) {
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(pki, &[b"h2"]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<TlsIo, std::io::Error>>(4);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = tx.send(Ok(TlsIo(tls))).await;
                }
            });
        }
    });
    let incoming = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let receiver = Receiver::default();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    (format!("https://127.0.0.1:{}", addr.port()), receiver)
}

async fn send_one(endpoint: &str, security: ClientSecurity) -> Outcome {
    let connector = Connector::new(SenderOptions {
        protocol: Protocol::OtlpGrpc,
        endpoint: endpoint.to_string(),
        timeout: Duration::from_secs(5),
        gzip: false,
        security,
    })
    .await
    .unwrap();
    let mut sender = connector.sender().await.unwrap();
    let body = spoor_codec::otlp::encode_request(&[]);
    sender.send(&body.into()).await
}

#[tokio::test]
async fn grpc_over_tls_is_verified_and_carries_credentials() {
    let pki = pki();
    let (endpoint, receiver) = grpc_server(&pki).await;
    let token = pki.dir.join("token");
    std::fs::write(&token, "grpc-token").unwrap();
    let mut security = with_ca(&pki);
    security.tls.cert_file = Some(pki.client_cert.clone());
    security.tls.key_file = Some(pki.client_key.clone());
    security.credentials = CredentialOptions {
        bearer_token_file: Some(token),
        headers: vec![("x-extra".into(), "1".into())],
        tenant: Some("team-b".into()),
        tenant_header: Some("x-scope-orgid".into()),
    };
    let outcome = send_one(&endpoint, security).await;
    assert_eq!(outcome, Outcome::Accepted { rejected: 0 });
    {
        let calls = receiver.0.lock();
        assert_eq!(calls.len(), 1);
        let md = &calls[0];
        assert_eq!(md.get("authorization").unwrap(), "Bearer grpc-token");
        assert_eq!(md.get("x-scope-orgid").unwrap(), "team-b");
        assert_eq!(md.get("x-extra").unwrap(), "1");
    }

    // Without the CA nothing is sent: the handshake fails (a retryable
    // `UNAVAILABLE`, saying why).
    let outcome = send_one(&endpoint, ClientSecurity::default()).await;
    assert!(
        outcome.is_retryable() && outcome.reason().contains("UnknownIssuer"),
        "{outcome:?}"
    );
    assert_eq!(receiver.0.lock().len(), 1);
}
