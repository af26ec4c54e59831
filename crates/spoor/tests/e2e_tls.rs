//! TLS on every TCP listener, through the real binary (docs/security.md,
//! "TLS"): HTTPS query API trusted through the test CA (and refused without
//! it), OTLP over HTTPS and over gRPC with TLS, admin `/metrics` over HTTPS,
//! mTLS `require` refusing clients without a certificate, and the server
//! certificate replaced on disk while the binary runs.
//!
//! Every server here listens on 127.0.0.91.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::pki::{CertFiles, Pki};
use common::tls_spoor::{TlsSpoor, https_client};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

const IP: &str = "127.0.0.91";

fn span(trace: u8, name: &str) -> Span {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![trace; 8],
        name: name.into(),
        start_time_unix_nano: now - 1_000_000,
        end_time_unix_nano: now,
        ..Span::default()
    }
}

fn trace_hex(trace: u8) -> String {
    format!("{trace:02x}").repeat(16)
}

/// OTLP/gRPC `Export` over TLS, trusting `pki`'s CA, as `localhost`.
fn grpc_export_tls(
    pki: &Pki,
    addr: SocketAddr,
    identity: Option<&CertFiles>,
    request: ExportTraceServiceRequest,
) -> Result<(), String> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost");
    if let Some(id) = identity {
        tls = tls.identity(Identity::from_pem(&id.cert_pem, &id.key_pem));
    }
    common::runtime().block_on(async move {
        let channel = Endpoint::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| format!("connect: {e:?}"))?;
        TraceServiceClient::new(channel)
            .export(request)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// Polls `/api/traces/<id>` over HTTPS until it finds the trace.
fn wait_for_trace(client: &reqwest::blocking::Client, spoor: &TlsSpoor, trace: u8) {
    let url = spoor.url("query-http", &format!("/api/traces/{}", trace_hex(trace)));
    let found = common::poll_until(Duration::from_secs(10), || {
        let r = client.get(&url).send().ok()?;
        (r.status() == 200).then_some(())
    });
    assert!(found.is_some(), "trace {trace} not found at {url}");
}

fn metric(client: &reqwest::blocking::Client, spoor: &TlsSpoor, name: &str, listener: &str) -> f64 {
    let text = client
        .get(spoor.url("admin-http", "/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    common::metric_sum(&text, name, &[("listener", listener)])
}

#[test]
fn every_tcp_listener_serves_tls_and_ingest_and_query_work_over_it() {
    let pki = Pki::new(IP);
    let spoor = TlsSpoor::start(IP, &pki, &[], None);
    let client = https_client(&pki, None);

    // OTLP over HTTPS.
    let body =
        common::otlp_service_request("tls-http", vec![span(0x11, "over-https")]).encode_to_vec();
    let r = client
        .post(spoor.url("otlp-http", "/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());

    // OTLP over gRPC with TLS (ALPN h2).
    grpc_export_tls(
        &pki,
        spoor.addr("otlp-grpc"),
        None,
        common::otlp_service_request("tls-grpc", vec![span(0x22, "over-grpc-tls")]),
    )
    .unwrap();

    // Both are found through the HTTPS query API.
    wait_for_trace(&client, &spoor, 0x11);
    wait_for_trace(&client, &spoor, 0x22);
    let services: serde_json::Value = client
        .get(spoor.url("query-http", "/api/services"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let services = services["data"].as_array().unwrap();
    for s in ["tls-http", "tls-grpc"] {
        assert!(services.iter().any(|v| v == s), "{s} in {services:?}");
    }

    // Every TCP listener completes a TLS handshake with the test CA's
    // certificate and picks h2 by ALPN; HTTP ones also speak http/1.1,
    // gRPC ones only h2.
    for listener in common::tls_spoor::TCP_LISTENERS {
        let tcp = std::net::TcpStream::connect(spoor.addr(listener)).unwrap();
        let (cert, alpn) = handshake(&pki, tcp, &[b"h2", b"http/1.1"])
            .unwrap_or_else(|e| panic!("{listener}: {e}"));
        assert_eq!(cert, pki.server.cert_der, "{listener}");
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]), "{listener}");
        let tcp = std::net::TcpStream::connect(spoor.addr(listener)).unwrap();
        let http1 = handshake(&pki, tcp, &[b"http/1.1"]);
        if listener.ends_with("grpc") {
            assert!(http1.is_err(), "{listener} offers only h2: {http1:?}");
        } else {
            assert_eq!(
                http1.unwrap().1.as_deref(),
                Some(&b"http/1.1"[..]),
                "{listener}"
            );
        }
    }
    let r = client
        .get(spoor.url("sampling-http", "/sampling?service=x"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    // A client that does not trust the CA is refused, and so is plain HTTP
    // on a TLS port; both count as failed handshakes.
    common::install_tls_provider();
    let stranger = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .tls_certs_only([reqwest::Certificate::from_pem(Pki::new(IP).ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let e = stranger
        .get(spoor.url("query-http", "/api/services"))
        .send();
    assert!(e.is_err(), "an untrusted certificate is refused: {e:?}");
    let plain = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let e = plain
        .get(format!("http://{}/api/services", spoor.addr("query-http")))
        .send();
    assert!(
        e.as_ref().map(|r| r.status() != 200).unwrap_or(true),
        "plain HTTP is not served on a TLS port: {e:?}"
    );
    let failures = common::poll_until(Duration::from_secs(5), || {
        let n = metric(
            &client,
            &spoor,
            "spoor_tls_handshake_failures_total",
            "query_http",
        );
        (n >= 2.0).then_some(n)
    });
    assert!(failures.is_some(), "failed handshakes are counted");

    // Admin /metrics over HTTPS.
    let text = client
        .get(spoor.url("admin-http", "/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(text.contains("spoor_connections_accepted_total"), "{text}");
}

/// A raw TLS handshake with rustls (ring) trusting `pki`'s CA, as
/// `localhost`, offering `alpn`; returns the leaf certificate the server
/// presented and the protocol it chose.
fn handshake(
    pki: &Pki,
    mut tcp: std::net::TcpStream,
    alpn: &[&[u8]],
) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut config = config;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    Ok((
        conn.peer_certificates().unwrap()[0].to_vec(),
        conn.alpn_protocol().map(<[u8]>::to_vec),
    ))
}

#[test]
fn mtls_require_refuses_clients_without_a_certificate() {
    let pki = Pki::new(IP);
    let alice = pki.client("alice");
    let ca = pki.ca_arg();
    let spoor = TlsSpoor::start(IP, &pki, &["--tls-client-ca-file", &ca], Some(&alice));

    // With alice's certificate: HTTPS and gRPC work.
    let with_cert = https_client(&pki, Some(&alice));
    let r = with_cert
        .get(spoor.url("query-http", "/api/services"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    grpc_export_tls(
        &pki,
        spoor.addr("otlp-grpc"),
        Some(&alice),
        common::otlp_service_request("mtls", vec![span(0x33, "mtls")]),
    )
    .unwrap();

    // Without one: refused on HTTP and gRPC listeners.
    let without = https_client(&pki, None);
    let e = without.get(spoor.url("query-http", "/api/services")).send();
    assert!(e.is_err(), "no client certificate: {e:?}");
    let e = grpc_export_tls(
        &pki,
        spoor.addr("otlp-grpc"),
        None,
        common::otlp_service_request("mtls", vec![span(0x34, "refused")]),
    );
    assert!(e.is_err(), "gRPC without a client certificate: {e:?}");

    // A certificate from another CA: refused too.
    let other = Pki::new(IP);
    let mallory = other.client("mallory");
    let e = https_client(&pki, Some(&mallory))
        .get(spoor.url("query-http", "/api/services"))
        .send();
    assert!(e.is_err(), "a certificate of an untrusted CA: {e:?}");

    let failures = metric(
        &with_cert,
        &spoor,
        "spoor_tls_handshake_failures_total",
        "query_http",
    );
    assert!(failures >= 2.0, "refusals are counted: {failures}");
}

#[test]
fn min_version_1_3_refuses_tls_1_2_clients() {
    let pki = Pki::new(IP);
    let spoor = TlsSpoor::start(IP, &pki, &["--tls-min-version", "1.3"], None);
    common::install_tls_provider();
    let ca = || reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let tls12 = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .tls_certs_only([ca()])
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    let e = tls12.get(spoor.url("query-http", "/api/services")).send();
    assert!(e.is_err(), "a TLS 1.2 client is refused: {e:?}");
    let tls13 = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .tls_certs_only([ca()])
        .min_tls_version(reqwest::tls::Version::TLS_1_3)
        .build()
        .unwrap();
    let r = tls13
        .get(spoor.url("query-http", "/api/services"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn the_certificate_is_reloaded_when_its_files_are_replaced() {
    let pki = Pki::new(IP);
    let config = pki.path().join("spoor.yaml");
    std::fs::write(
        &config,
        "version: 1\nsecurity:\n  tls:\n    reload_interval: 200ms\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let spoor = TlsSpoor::start(IP, &pki, &["--config", &config], None);
    let client = https_client(&pki, None);
    let served = || {
        // A new connection each time (reqwest would reuse the old one).
        let tcp = std::net::TcpStream::connect(spoor.addr("query-http")).unwrap();
        handshake(&pki, tcp, &[b"h2"]).unwrap().0
    };
    assert_eq!(served(), pki.server.cert_der);

    // A broken file is logged and the old certificate kept.
    common::pki::write_atomically(&pki.server.cert_file, b"garbage\n");
    let logged = common::poll_until(Duration::from_secs(10), || {
        spoor.log().contains("cannot be used").then_some(())
    });
    assert!(logged.is_some(), "the bad file is logged:\n{}", spoor.log());
    assert_eq!(served(), pki.server.cert_der, "the old certificate is kept");

    // A new certificate and key: served to new connections.
    let renewed = pki.server_cert("renewed", &["localhost", "127.0.0.1", IP]);
    renewed.install_as(&pki.server);
    let switched = common::poll_until(Duration::from_secs(10), || {
        (served() == renewed.cert_der).then_some(())
    });
    assert!(
        switched.is_some(),
        "the new certificate is served:\n{}",
        spoor.log()
    );
    let r = client
        .get(spoor.url("query-http", "/api/services"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn bad_tls_files_stop_the_start_with_a_clear_message() {
    let pki = Pki::new(IP);
    let other = pki.server_cert("other", &["localhost"]);
    let run = common::run_spoor(&[
        "--tls-cert-file",
        &pki.server.cert_arg(),
        "--tls-key-file",
        &other.key_arg(),
        "--otlp-grpc-addr",
        "127.0.0.91:0",
        "--admin-http-addr",
        "127.0.0.91:0",
    ]);
    assert!(!run.ok, "a mismatched key stops the start");
    assert!(
        run.stderr.contains("does not match the key"),
        "{}",
        run.stderr
    );

    let run = common::run_spoor(&[
        "--tls-cert-file",
        "/nonexistent/cert.pem",
        "--tls-key-file",
        &pki.server.key_arg(),
    ]);
    assert!(!run.ok);
    assert!(
        run.stderr
            .contains("cannot read certificate file /nonexistent/cert.pem"),
        "{}",
        run.stderr
    );
}
