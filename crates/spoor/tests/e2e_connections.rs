//! Connection-level protection through the real binary (ADR 0018): header,
//! body and idle timeouts, connection limits, the file descriptor reserve,
//! the Host allow-list and Origin/CORS checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Spoor, poll_until};

/// One raw HTTP/1.1 exchange: sends `request` as is, reads until the server
/// closes (the request says `Connection: close`). Returns status and text.
fn raw(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn get(addr: SocketAddr, path: &str, host: &str, extra: &str) -> (u16, String) {
    raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"),
    )
}

/// Whether the server closed `s` (EOF or reset) within `within`.
fn closed_within(s: &TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut s = s;
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {
                if Instant::now() > deadline {
                    return false;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// The value of a metric series (`name{labels}`) in Prometheus text.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn zipkin_span(trace_id: &str, service: &str) -> String {
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    format!(
        r#"[{{"traceId":"{trace_id}","id":"00000000000000a1","name":"op","timestamp":{now_us},"duration":10,"localEndpoint":{{"serviceName":"{service}"}}}}]"#
    )
}

#[test]
fn slowloris_and_silent_connections_are_closed_by_the_header_timeout() {
    let spoor = Spoor::start(&["--header-timeout", "2s", "--idle-timeout", "3s"]);
    let baseline = spoor.fd_count();
    // 150 connections per HTTP receiver and query port drip a request head
    // one byte at a time; 50 connect to the gRPC port and say nothing.
    let head = b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut drips: Vec<TcpStream> = Vec::new();
    for addr in [spoor.otlp_http, spoor.query_http, spoor.zipkin] {
        for _ in 0..150 {
            let s = TcpStream::connect(addr).unwrap();
            s.set_nonblocking(true).unwrap();
            drips.push(s);
        }
    }
    let mut silent: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(spoor.otlp_grpc).unwrap())
        .collect();
    // The server holds them for a while.
    let mut opened = 0;
    let _ = poll_until(Duration::from_millis(1500), || {
        opened = opened.max(spoor.fd_count());
        (opened >= baseline + 450).then_some(())
    });
    assert!(
        opened >= baseline + 100,
        "the server should hold the connections: {baseline} -> {opened}"
    );
    // Drip one byte per connection every 200 ms: every connection must be
    // closed about 2 s after the server accepted it (under a loaded machine
    // accepting may lag, hence up to 15 s in all).
    let start = Instant::now();
    let mut pos = 0;
    let mut open: Vec<bool> = vec![true; drips.len()];
    while start.elapsed() < Duration::from_secs(15) && open.iter().any(|o| *o) {
        for (s, is_open) in drips.iter_mut().zip(open.iter_mut()) {
            if !*is_open {
                continue;
            }
            let mut buf = [0u8; 512];
            match s.read(&mut buf) {
                Ok(0) => *is_open = false,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => *is_open = false,
            }
            if *is_open {
                let _ = s.write(&[head[pos % head.len()]]);
            }
        }
        pos += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let still_open = open.iter().filter(|o| **o).count();
    assert_eq!(
        still_open,
        0,
        "slowloris connections still open after {:?}",
        start.elapsed()
    );
    // The head (about 140 bytes) was never complete: the server closed them.
    assert!(
        pos < head.len(),
        "the heads were completed: {pos} bytes sent"
    );
    for s in &mut silent {
        assert!(
            closed_within(s, Duration::from_secs(2)),
            "a silent gRPC connection was not closed"
        );
    }
    let back = poll_until(Duration::from_secs(5), || {
        let n = spoor.fd_count();
        (n <= baseline + 5).then_some(n)
    });
    assert!(
        back.is_some(),
        "server fds did not return to the baseline {baseline}: {}",
        spoor.fd_count()
    );
    let m = spoor.metrics();
    for (listener, n) in [
        ("otlp_http", 150.0),
        ("query_http", 150.0),
        ("zipkin_http", 150.0),
        ("otlp_grpc", 50.0),
    ] {
        let header = metric(
            &m,
            &format!(
                r#"spoor_connection_timeouts_total{{listener="{listener}",timeout="header"}}"#
            ),
        );
        assert!(
            header >= n,
            "{listener}: header timeouts counted: {header}\n{m}"
        );
    }
    // The server still works.
    let reply = spoor.get(&spoor.query("/api/services"));
    assert_eq!(reply.status, 200);
}

#[test]
fn idle_keep_alive_connections_are_closed_by_the_idle_timeout() {
    let spoor = Spoor::start(&["--idle-timeout", "2s", "--header-timeout", "10s"]);
    let mut s = TcpStream::connect(spoor.query_http).unwrap();
    s.write_all(b"GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let start = Instant::now();
    assert!(closed_within(&s, Duration::from_secs(6)));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "closed after {took:?}, expected about the 2 s idle timeout"
    );
}

#[test]
fn idle_grpc_connections_are_closed_and_clients_reconnect() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use prost::Message as _;
    use spoor_model::{KeyValue, Resource, Scope, Span, SpanId, SpanRecord, TraceId};
    let spoor = Spoor::start(&["--idle-timeout", "2s"]);
    let request = |n: u64| {
        let resource = std::sync::Arc::new(Resource {
            attributes: vec![KeyValue::str("service.name", "grpc-idle")],
            ..Resource::default()
        });
        let span = Span {
            trace_id: TraceId::from_halves(0x1d1e, n),
            span_id: SpanId::from_u64(1),
            name: "op".into(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_000_001_000,
            ..Span::default()
        };
        let spans = [SpanRecord::new(
            resource,
            std::sync::Arc::new(Scope::default()),
            span,
        )];
        ExportTraceServiceRequest::decode(spoor_codec::otlp::encode_request(&spans).as_slice())
            .unwrap()
    };
    let rt = common::runtime();
    let endpoint = spoor.otlp_grpc_endpoint();
    let mut client = rt.block_on(async {
        let mut client = TraceServiceClient::connect(endpoint).await.unwrap();
        client.export(request(1)).await.unwrap();
        client
    });
    // Idle for longer than the idle timeout: the server closes the
    // connection; the channel reconnects for the next call.
    std::thread::sleep(Duration::from_secs(4));
    let m = spoor.metrics();
    assert!(
        metric(
            &m,
            r#"spoor_connection_timeouts_total{listener="otlp_grpc",timeout="idle"}"#
        ) >= 1.0,
        "{m}"
    );
    let ok = rt.block_on(async {
        for _ in 0..3 {
            if client.export(request(2)).await.is_ok() {
                return true;
            }
        }
        false
    });
    assert!(ok, "the client did not reconnect");
}

#[test]
fn a_client_that_does_not_read_its_answer_is_cut_off() {
    use spoor_model::{KeyValue, Resource, Scope, Span, SpanId, SpanRecord, TraceId};
    let spoor = Spoor::start(&["--idle-timeout", "2s"]);
    // One trace whose Jaeger JSON is about 8 MB.
    let trace_id = TraceId::from_halves(0x5104, 0x4ead);
    let resource = std::sync::Arc::new(Resource {
        attributes: vec![KeyValue::str("service.name", "slow-read")],
        ..Resource::default()
    });
    let spans: Vec<SpanRecord> = (0..2_000u64)
        .map(|i| {
            let span = Span {
                trace_id,
                span_id: SpanId::from_u64(i + 1),
                name: "op".into(),
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_000_000_001_000,
                attributes: vec![KeyValue::str("pad", "p".repeat(4000))],
                ..Span::default()
            };
            SpanRecord::new(
                resource.clone(),
                std::sync::Arc::new(Scope::default()),
                span,
            )
        })
        .collect();
    let reply = spoor.post(
        &spoor.otlp_http_url("/v1/traces"),
        "application/x-protobuf",
        spoor_codec::otlp::encode_request(&spans),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    // A reader with a tiny receive window that never reads.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&spoor.query_http.into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.write_all(
        format!("GET /api/traces/{trace_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let cut = poll_until(Duration::from_secs(15), || {
        let m = spoor.metrics();
        (metric(
            &m,
            r#"spoor_connection_timeouts_total{listener="query_http",timeout="write"}"#,
        ) >= 1.0)
            .then_some(())
    });
    assert!(cut.is_some(), "a stalled reader was not cut off");
    // What arrived is less than the answer.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(got.len() < 8_000_000, "{} bytes arrived", got.len());
}

#[test]
fn a_slow_reader_that_keeps_reading_gets_its_whole_answer() {
    use spoor_model::{KeyValue, Resource, Scope, Span, SpanId, SpanRecord, TraceId};
    let spoor = Spoor::start(&["--idle-timeout", "2s"]);
    let trace_id = TraceId::from_halves(0x5104, 0x600d);
    let resource = std::sync::Arc::new(Resource {
        attributes: vec![KeyValue::str("service.name", "slow-read")],
        ..Resource::default()
    });
    let spans: Vec<SpanRecord> = (0..2_000u64)
        .map(|i| {
            let span = Span {
                trace_id,
                span_id: SpanId::from_u64(i + 1),
                name: "op".into(),
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_000_000_001_000,
                attributes: vec![KeyValue::str("pad", "p".repeat(4000))],
                ..Span::default()
            };
            SpanRecord::new(
                resource.clone(),
                std::sync::Arc::new(Scope::default()),
                span,
            )
        })
        .collect();
    let reply = spoor.post(
        &spoor.otlp_http_url("/v1/traces"),
        "application/x-protobuf",
        spoor_codec::otlp::encode_request(&spans),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    // About 8.5 MB read at about 2.5 MB/s: longer than the idle timeout, but
    // always progressing (the kernel reports the socket writable again once
    // a third of its send buffer has drained: well within 2 s at this rate).
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 << 10).unwrap();
    socket.connect(&spoor.query_http.into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.write_all(
        format!(
            "GET /api/traces/{trace_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read failed after {} bytes: {e}", got.len()),
        }
        std::thread::sleep(Duration::from_millis(6));
    }
    let text = String::from_utf8_lossy(&got[..got.len().min(400)]).to_ascii_lowercase();
    let head = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    match text
        .split("content-length:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(declared) => assert_eq!(got.len() - head, declared, "the answer was cut"),
        // A large trace is streamed (chunked): the answer is whole when its
        // chunks add up and the last one is the empty chunk.
        None => {
            assert!(text.contains("transfer-encoding: chunked"), "{text}");
            let body = dechunk(&got[head..]);
            assert!(
                body.ends_with(b"\"errors\":null}"),
                "the answer was cut after {} bytes",
                body.len()
            );
        }
    }
    assert!(
        start.elapsed() > Duration::from_secs(2),
        "the read should outlast the idle timeout: {:?}",
        start.elapsed()
    );
}

#[test]
fn a_request_in_flight_is_not_closed_as_idle() {
    let spoor = Spoor::start(&[
        "--idle-timeout",
        "1s",
        "--header-timeout",
        "1s",
        "--body-timeout",
        "10s",
    ]);
    let body = zipkin_span("0000000000000000000000000000510e", "slow-body");
    let mut s = TcpStream::connect(spoor.zipkin).unwrap();
    s.write_all(
        format!(
            "POST /api/v2/spans HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    // The body arrives well after the idle and header timeouts, within the
    // body timeout.
    std::thread::sleep(Duration::from_millis(2500));
    s.write_all(body.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 202"), "{text:?}");
}

#[test]
fn a_never_ending_chunked_body_is_cut_by_the_body_timeout() {
    let spoor = Spoor::start(&["--body-timeout", "2s"]);
    for (addr, path, ct) in [
        (spoor.otlp_http, "/v1/traces", "application/json"),
        (spoor.zipkin, "/api/v2/spans", "application/json"),
        (spoor.jaeger_http, "/api/traces", "application/x-thrift"),
    ] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ct}\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let start = Instant::now();
        let mut cut = false;
        // Two bytes a chunk, every 100 ms, for up to 10 s.
        while start.elapsed() < Duration::from_secs(10) {
            if s.write_all(b"2\r\n[ \r\n").is_err() {
                cut = true;
                break;
            }
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut buf = [0u8; 1024];
            match s.read(&mut buf) {
                Ok(0) => {
                    cut = true;
                    break;
                }
                Ok(_) => {
                    // An error answer; the connection must close after it.
                    assert!(closed_within(&s, Duration::from_secs(2)));
                    cut = true;
                    break;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => {
                    cut = true;
                    break;
                }
            }
        }
        let took = start.elapsed();
        assert!(cut, "{path}: a never-ending body was not cut in 10 s");
        assert!(
            took < Duration::from_secs(5),
            "{path}: cut after {took:?}, expected about the 2 s body timeout"
        );
    }
    let m = spoor.metrics();
    assert!(
        metric(
            &m,
            r#"spoor_connection_timeouts_total{listener="otlp_http",timeout="body"}"#
        ) >= 1.0,
        "{m}"
    );
}

#[test]
fn the_connection_limit_evicts_idle_connections_and_refuses_beyond_busy_ones() {
    let spoor = Spoor::start(&["--max-connections", "20", "--body-timeout", "20s"]);
    // 30 silent connections on the query port: the oldest are closed to make
    // room, and a real request still gets through.
    let mut idle: Vec<TcpStream> = (0..30)
        .map(|_| TcpStream::connect(spoor.query_http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (status, text) = get(spoor.query_http, "/api/services", "127.0.0.1", "");
    assert_eq!(status, 200, "{text}");
    let closed = idle
        .iter_mut()
        .filter(|s| closed_within(s, Duration::from_millis(100)))
        .count();
    assert!(closed >= 10, "only {closed} idle connections were evicted");
    // 20 busy requests (bodies promised, never sent) fill the OTLP listener;
    // the next connection is closed at once.
    let busy: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(spoor.otlp_http).unwrap();
            s.write_all(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut extra = TcpStream::connect(spoor.otlp_http).unwrap();
    let _ = extra.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert!(
        closed_within(&extra, Duration::from_secs(2)),
        "a connection beyond the limit must be closed promptly"
    );
    let m = spoor.metrics();
    assert!(
        metric(
            &m,
            r#"spoor_connections_refused_total{listener="otlp_http"}"#
        ) >= 1.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            r#"spoor_connections_evicted_total{listener="query_http"}"#
        ) >= 10.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, r#"spoor_connections_limit{listener="otlp_http"}"#),
        20.0
    );
    drop(busy);
}

#[test]
fn idle_sockets_cannot_exhaust_file_descriptors_under_a_1024_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let spoor = Spoor::start_with_fd_limit(
        Some(1024),
        &[
            "--data-dir",
            &data_dir,
            "--header-timeout",
            "4s",
            "--block-cut-bytes",
            "1",
        ],
    );
    let baseline = spoor.fd_count();
    // 1,100 idle connections spread over the query, OTLP and admin ports.
    let targets = [
        spoor.query_http,
        spoor.otlp_http,
        spoor.zipkin,
        spoor.admin_http,
    ];
    let mut conns = Vec::new();
    for i in 0..1100 {
        if let Ok(s) =
            TcpStream::connect_timeout(&targets[i % targets.len()], Duration::from_secs(1))
        {
            conns.push(s);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let held = spoor.fd_count();
    assert!(
        held < 1024 - 200,
        "the server must keep a reserve of descriptors: {held} open"
    );
    // Health, queries and a block cut still work while the sockets are held.
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for url in [spoor.admin("/status"), spoor.query("/api/services")] {
        let start = Instant::now();
        let resp = client.get(&url).send().unwrap_or_else(|e| {
            panic!(
                "GET {url} failed with 1,100 idle sockets: {e}\n{}",
                spoor.log()
            )
        });
        assert_eq!(resp.status().as_u16(), 200, "{url}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{url} took {:?}",
            start.elapsed()
        );
    }
    let trace_id = "5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e";
    let resp = client
        .post(format!("http://{}/api/v2/spans", spoor.zipkin))
        .header("Content-Type", "application/json")
        .body(zipkin_span(trace_id, "fd-test"))
        .send()
        .expect("Zipkin POST with idle sockets held");
    assert_eq!(resp.status().as_u16(), 202);
    let blocks = dir.path().join("blocks");
    let cut = poll_until(Duration::from_secs(20), || {
        let n = std::fs::read_dir(&blocks).ok()?.count();
        (n > 0).then_some(n)
    });
    assert!(cut.is_some(), "no block was cut:\n{}", spoor.log());
    let log = spoor.log();
    assert!(
        !log.contains("Too many open files"),
        "the server ran out of descriptors:\n{log}"
    );
    // 1024 descriptors, 256 kept in reserve, 768 split between all-in-one's
    // TCP listeners (10 today), counted from the role's table.
    let tcp = spoor_server::roles::ALL_IN_ONE
        .listeners
        .iter()
        .filter(|l| l.spec().transport == spoor_server::listeners::Transport::Tcp)
        .count();
    let m = spoor.metrics();
    assert_eq!(
        metric(&m, r#"spoor_connections_limit{listener="query_http"}"#),
        (768 / tcp) as f64,
        "{m}"
    );
    let reply = spoor.get(&spoor.query(&format!("/api/traces/{trace_id}")));
    assert_eq!(reply.status, 200, "{}", reply.text());
    // The idle sockets are closed by the header timeout.
    let back = poll_until(Duration::from_secs(10), || {
        let n = spoor.fd_count();
        (n <= baseline + 10).then_some(n)
    });
    assert!(
        back.is_some(),
        "idle sockets were not closed: {} fds (baseline {baseline})",
        spoor.fd_count()
    );
    drop(conns);
}

#[test]
fn the_host_header_is_checked_against_dns_rebinding() {
    let spoor = Spoor::start(&["--allowed-hosts", "spoor.test"]);
    let port = spoor.query_http.port();
    let (status, text) = get(
        spoor.query_http,
        "/api/services",
        &format!("attacker.test:{port}"),
        "",
    );
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("--allowed-hosts"), "{text}");
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "spoor.test".to_string(),
    ] {
        let (status, text) = get(spoor.query_http, "/api/services", &host, "");
        assert_eq!(status, 200, "{host}: {text}");
    }
    // Receivers and the admin port too.
    let (status, _) = get(spoor.admin_http, "/status", "attacker.test", "");
    assert_eq!(status, 403);
    let body = zipkin_span("0000000000000000000000000000beef", "rebind");
    let (status, _) = raw(
        spoor.zipkin,
        &format!(
            "POST /api/v2/spans HTTP/1.1\r\nHost: attacker.test:9411\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, 403);
    let m = spoor.metrics();
    assert!(
        metric(
            &m,
            r#"spoor_http_requests_forbidden_total{listener="query_http",check="host"}"#
        ) >= 1.0,
        "{m}"
    );
    // `*` accepts any Host.
    let open = Spoor::start(&["--allowed-hosts", "*"]);
    let (status, _) = get(open.query_http, "/api/services", "attacker.test", "");
    assert_eq!(status, 200);
}

#[test]
fn a_cross_site_text_plain_post_to_zipkin_is_refused() {
    let spoor = Spoor::start(&["--receiver-allowed-origins", "https://app.test"]);
    let post = |origin: &str, trace_id: &str| {
        let body = zipkin_span(trace_id, "cross-site");
        raw(
            spoor.zipkin,
            &format!(
                "POST /api/v2/spans HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {origin}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    let evil = "000000000000000000000000000e0115";
    let (status, text) = post("https://evil.test", evil);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("--receiver-allowed-origins"), "{text}");
    // Same for OTLP/HTTP and Jaeger HTTP.
    for (addr, path) in [
        (spoor.otlp_http, "/v1/traces"),
        (spoor.jaeger_http, "/api/traces"),
    ] {
        let (status, text) = raw(
            addr,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: null\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            ),
        );
        assert_eq!(status, 403, "{path}: {text}");
    }
    // A configured origin gets through, with CORS headers.
    let good = "0000000000000000000000000000900d";
    let (status, text) = post("https://app.test", good);
    assert_eq!(status, 202, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("access-control-allow-origin: https://app.test"),
        "{text}"
    );
    let (status, text) = raw(
        spoor.otlp_http,
        "OPTIONS /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://app.test\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 204, "{text}");
    // Only the allowed span is stored.
    let found = poll_until(Duration::from_secs(5), || {
        (spoor
            .get(&spoor.query(&format!("/api/traces/{good}")))
            .status
            == 200)
            .then_some(())
    });
    assert!(found.is_some());
    assert_eq!(
        spoor
            .get(&spoor.query(&format!("/api/traces/{evil}")))
            .status,
        404
    );
}

#[test]
fn cors_on_the_query_api() {
    let spoor = Spoor::start(&["--cors-allowed-origins", "https://grafana.test"]);
    let preflight = |origin: &str| {
        raw(
            spoor.query_http,
            &format!(
                "OPTIONS /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\nConnection: close\r\n\r\n"
            ),
        )
    };
    let (status, text) = preflight("https://grafana.test");
    assert_eq!(status, 204, "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(
        lower.contains("access-control-allow-origin: https://grafana.test"),
        "{text}"
    );
    assert!(lower.contains("access-control-allow-methods:"), "{text}");
    assert!(
        lower.contains("access-control-allow-headers: authorization"),
        "{text}"
    );
    let (status, text) = preflight("https://evil.test");
    assert_eq!(status, 403, "{text}");
    assert!(
        !text
            .to_ascii_lowercase()
            .contains("access-control-allow-origin")
    );
    let (status, text) = get(
        spoor.query_http,
        "/api/services",
        "127.0.0.1",
        "Origin: https://grafana.test\r\n",
    );
    assert_eq!(status, 200, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("access-control-allow-origin: https://grafana.test"),
        "{text}"
    );
    // Another origin may not read the answer (no CORS header).
    let (status, text) = get(
        spoor.query_http,
        "/api/services",
        "127.0.0.1",
        "Origin: https://evil.test\r\n",
    );
    assert_eq!(status, 200, "{text}");
    assert!(
        !text
            .to_ascii_lowercase()
            .contains("access-control-allow-origin")
    );
}

#[test]
fn shutdown_closes_idle_connections_and_lets_requests_finish() {
    let mut spoor = Spoor::start(&[]);
    // An idle keep-alive connection, a silent one and a request whose body
    // is still arriving when SIGTERM comes.
    let mut idle = TcpStream::connect(spoor.query_http).unwrap();
    idle.write_all(b"GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let _silent = TcpStream::connect(spoor.admin_http).unwrap();
    let body = zipkin_span("000000000000000000000000005d0e11", "shutdown");
    let mut pending = TcpStream::connect(spoor.zipkin).unwrap();
    pending
        .write_all(
            format!(
                "POST /api/v2/spans HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (tx, rx) = std::sync::mpsc::channel();
    let finisher = std::thread::spawn(move || {
        // The rest of the body arrives after shutdown began.
        std::thread::sleep(Duration::from_millis(500));
        pending.write_all(body.as_bytes()).unwrap();
        pending
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 512];
        let n = pending.read(&mut buf).unwrap_or(0);
        tx.send(String::from_utf8_lossy(&buf[..n]).into_owned())
            .unwrap();
    });
    let start = Instant::now();
    let status = spoor.terminate(Duration::from_secs(15));
    let answer = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    finisher.join().unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 202"),
        "the request in flight must be answered: {answer:?}"
    );
    let status = status.unwrap_or_else(|| panic!("spoor did not stop:\n{}", spoor.log()));
    assert!(status.success(), "{status:?}\n{}", spoor.log());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "stopping took {:?}",
        start.elapsed()
    );
    assert!(closed_within(&idle, Duration::from_secs(1)));
}

/// The body of a chunked HTTP/1.1 answer; panics if it is cut short.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size_text = std::str::from_utf8(&raw[..line_end]).expect("a chunk size");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("a hex chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return body;
        }
        assert!(raw.len() >= size + 2, "the answer was cut inside a chunk");
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}
