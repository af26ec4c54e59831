//! docs/security.md's table of every route, walked: the table names every
//! HTTP route the server code declares and every gRPC method Spoor serves,
//! and each row's checks hold against the real binary with authentication
//! configured on every listener group, the web UI login and tenancy (an
//! unauthenticated request to an `auth` row is refused; an `open` row
//! answers; a valid token without a tenant is refused on a `tenant` row; a
//! valid token, with a tenant where the row needs one, gets past every check).
//!
//! Loopback address 127.0.0.120 (all-in-one and a collector on default ports).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message as _;

const HOST: &str = "127.0.0.120";
const TOKEN: &str = "route-walk-0b4f9c2e7d";
const TENANT: &str = "walk";

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    listener: String,
    /// `GET /api/services` or a gRPC `package.Service/Method`.
    route: String,
    checks: String,
}

impl Row {
    fn is_grpc(&self) -> bool {
        !self.route.contains(' ')
    }
    fn open(&self) -> bool {
        self.checks.starts_with("open")
    }
    fn tenant(&self) -> bool {
        self.checks.split(", ").any(|c| c == "tenant")
    }
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn table() -> Vec<Row> {
    let doc = std::fs::read_to_string(repo_file("docs/security.md")).unwrap();
    let start = doc
        .find("\n## Every route")
        .expect("docs/security.md has an \"Every route\" section");
    let section = &doc[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut rows = Vec::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| `listener` | `route` (note) | checks |" → ["", l, r, c, ""]
        if cells.len() != 5 || !cells[1].starts_with('`') {
            continue;
        }
        let listener = cells[1].trim_matches('`').to_owned();
        let route = cells[2]
            .split('`')
            .nth(1)
            .expect("a route cell starts with a code span")
            .to_owned();
        rows.push(Row {
            listener,
            route,
            checks: cells[3].to_owned(),
        });
    }
    assert!(rows.len() > 40, "the route table was not found: {rows:?}");
    rows
}

/// Every string literal route (`.route("…"`) of the server crate.
fn declared_http_routes() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // Test modules declare routes of their own.
                let text = text.split("#[cfg(test)]").next().unwrap_or("");
                for part in text.split(".route(\"").skip(1) {
                    if let Some(end) = part.find('"') {
                        out.push((path.clone(), part[..end].to_owned()));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo_file("crates/spoor-server/src"), &mut out);
    assert!(!out.is_empty());
    out
}

#[test]
fn the_table_names_every_declared_route_and_grpc_method() {
    let rows = table();
    let agent_dir = repo_file("crates/spoor-server/src/agent");
    let mut missing = Vec::new();
    for (file, route) in declared_http_routes() {
        // `spoor agent` has its own listeners; docs/security.md covers them
        // in prose ("spoor agent").
        if file.starts_with(&agent_dir) {
            continue;
        }
        let found = rows
            .iter()
            .any(|r| !r.is_grpc() && r.route.split_once(' ').is_some_and(|(_, p)| p == route));
        if !found {
            missing.push(format!("{route} ({})", file.display()));
        }
    }
    let set = prost_types::FileDescriptorSet::decode(spoor_proto::FILE_DESCRIPTOR_SET).unwrap();
    for file in &set.file {
        for service in &file.service {
            let full = format!("{}.{}", file.package(), service.name());
            // Zipkin's gRPC collector is not served (only its messages are used).
            if full.starts_with("zipkin.") {
                continue;
            }
            for method in &service.method {
                let route = format!("{full}/{}", method.name());
                if !rows.iter().any(|r| r.route == route) {
                    missing.push(route);
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/security.md's route table lacks:\n{}",
        missing.join("\n")
    );
}

/// A process of the binary under test, killed on drop.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- log of {} ---\n{}",
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

/// Starts `spoor [role] --host 127.0.0.120 --config CONFIG` on the role's
/// default ports and waits until `admin_port` answers `/status` (open).
fn start(dir: &Path, role: Option<&str>, admin_port: u16, config: &Path) -> Proc {
    let name = role.unwrap_or("all-in-one");
    let log = dir.join(format!("{name}.log"));
    let mut cmd = Command::new(common::spoor_bin());
    if let Some(role) = role {
        // A shared block store in a local folder.
        cmd.arg(role)
            .args(["--node-id", "c1", "--blocks-url"])
            .arg(format!("file://{}", dir.join("blocks").display()));
    }
    let child = cmd
        .args(["--host", HOST, "--log", "warn"])
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(dir.join(format!("{name}-data")))
        .env_remove("SPOOR_CONFIG")
        .env_remove("SPOOR_HOST")
        .env_remove("SPOOR_DATA_DIR")
        .env_remove("SPOOR_BLOCKS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .expect("spawn spoor");
    let mut proc = Proc { child, log };
    let url = format!("http://{HOST}:{admin_port}/status");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = proc.child.try_wait().unwrap() {
            panic!(
                "{name} exited with {status}:\n{}",
                std::fs::read_to_string(&proc.log).unwrap_or_default()
            );
        }
        if reqwest::blocking::get(&url).is_ok_and(|r| r.status().as_u16() == 200) {
            return proc;
        }
        assert!(Instant::now() < deadline, "{name} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The port of `listener` on 127.0.0.120 (the defaults of the roles started).
fn port(listener: &str) -> u16 {
    match listener {
        "otlp_grpc" => 4317,
        "otlp_http" => 4318,
        "jaeger_http" => 14268,
        "jaeger_grpc" => 14250,
        "zipkin" => 9411,
        "sampling_http" => 5778,
        "sampling_grpc" => 5779,
        "query_http" => 16686,
        "query_grpc" => 16685,
        "admin_http" => 13133,
        // The collector's internal API.
        "cluster_grpc" => 14300,
        other => panic!("unknown listener {other} in docs/security.md"),
    }
}

/// A concrete path for a route pattern.
fn concrete(path: &str) -> String {
    path.replace("{service}", "route-walk")
        .replace("{trace_id}", "0123456789abcdef0123456789abcdef")
        .replace("{*rest}", "no/such/route")
        .replace("{*any}", "another/path")
        .replace("{*asset}", "app.js")
}

/// The HTTP status of `method url` sent from `from`, with `token` as a
/// bearer token if given.
fn http_status(
    from: IpAddr,
    method: &str,
    url: &str,
    token: Option<&str>,
    tenant: Option<&str>,
) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .local_address(from)
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client.request(method.parse().unwrap(), url);
    if method == "POST" {
        req = req
            .header("content-type", "application/json")
            .body("{}".to_owned());
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(t) = tenant {
        req = req.header("x-tenant", t);
    }
    req.send()
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
        .status()
        .as_u16()
}

/// The gRPC code of calling `path` on `addr` from `from` with an empty message.
fn grpc_code(
    rt: &tokio::runtime::Runtime,
    from: IpAddr,
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    tenant: Option<&str>,
) -> i32 {
    rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .local_address(Some(from))
            .timeout(Duration::from_secs(20))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let mut req = tonic::Request::new(Bytes::new());
        if let Some(t) = token {
            req.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        if let Some(t) = tenant {
            req.metadata_mut().insert("x-tenant", t.parse().unwrap());
        }
        let path: http::uri::PathAndQuery = path.parse().unwrap();
        // A streaming method that passed the checks may stream for ever
        // (`Health/Watch`): still answering after a while means it passed.
        match tokio::time::timeout(
            Duration::from_secs(3),
            grpc.unary(req, path, spoor_client::grpc::RawCodec),
        )
        .await
        {
            Err(_) | Ok(Ok(_)) => 0,
            Ok(Err(status)) => status.code() as i32,
        }
    })
}

const UNAUTHENTICATED: i32 = 16;
const PERMISSION_DENIED: i32 = 7;

#[test]
fn every_route_is_refused_without_credentials_and_passes_with_them() {
    common::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("# route walk\n{TOKEN} route-walk *\n")).unwrap();
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, "not-used\n").unwrap();
    let group = |g: &str| format!("    {g}:\n      tokens_file: {}\n", tokens.display());
    let auth = format!(
        "version: 1\nsecurity:\n  auth:\n{}{}{}{}",
        group("ingest"),
        group("query"),
        group("admin"),
        group("internal")
    );
    // All-in-one also has the web UI login (its issuer is never reached: the
    // walk only checks that the login routes are open) and tenancy.
    let config = dir.path().join("spoor.yaml");
    std::fs::write(
        &config,
        format!(
            "{auth}  login:\n    issuer: http://{HOST}:9/\n    client_id: spoor\n    client_secret_file: {}\n  tenancy:\n    tenants: [{TENANT}]\n",
            secret.display()
        ),
    )
    .unwrap();
    let _all_in_one = start(dir.path(), None, 13133, &config);
    // The collector (its internal API) on other ports than all-in-one's.
    let collector_config = dir.path().join("collector.yaml");
    std::fs::write(
        &collector_config,
        format!(
            "{auth}listeners:\n  admin_http: {HOST}:13134\n  otlp_grpc: off\n  otlp_http: off\n  jaeger_compact: off\n  jaeger_binary: off\n  jaeger_http: off\n  jaeger_grpc: off\n  zipkin: off\n  sampling_http: off\n  sampling_grpc: off\n"
        ),
    )
    .unwrap();
    let _collector = start(dir.path(), Some("collector"), 13134, &collector_config);
    let rt = common::runtime();

    let mut failures = Vec::new();
    let rows = table();
    for (i, row) in rows.iter().enumerate() {
        // Each row from its own address: failed attempts are slowed down per
        // address, and this walk fails on purpose on every row.
        let from = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1 + i as u8));
        let addr: SocketAddr = format!("{HOST}:{}", port(&row.listener)).parse().unwrap();
        let tenant = row.tenant().then_some(TENANT);
        if row.is_grpc() {
            let path = format!("/{}", row.route);
            let call = |token, tenant| grpc_code(&rt, from, addr, &path, token, tenant);
            let without = call(None, None);
            if row.open() {
                if without == UNAUTHENTICATED {
                    failures.push(format!("{row:?}: open row refused without credentials"));
                }
            } else if without != UNAUTHENTICATED {
                failures.push(format!(
                    "{row:?}: without credentials got gRPC code {without}, not UNAUTHENTICATED"
                ));
            }
            if row.tenant() && call(Some(TOKEN), None) != UNAUTHENTICATED {
                failures.push(format!("{row:?}: a token without a tenant was not refused"));
            }
            let with = call(Some(TOKEN), tenant);
            if with == UNAUTHENTICATED || with == PERMISSION_DENIED {
                failures.push(format!("{row:?}: refused ({with}) with a valid token"));
            }
        } else {
            let (method, path) = row.route.split_once(' ').unwrap();
            let url = format!("http://{addr}{}", concrete(path));
            let status = |token, tenant| http_status(from, method, &url, token, tenant);
            let without = status(None, None);
            if row.open() {
                if without == 401 || without == 403 {
                    failures.push(format!("{row:?}: open row answered {without}"));
                }
            } else {
                if without != 401 {
                    failures.push(format!(
                        "{row:?}: without credentials answered {without}, not 401"
                    ));
                }
                // A wrong token is refused like none.
                if status(Some("not-the-token"), tenant) != 401 {
                    failures.push(format!("{row:?}: a wrong token was not refused"));
                }
            }
            if row.tenant() && status(Some(TOKEN), None) != 401 {
                failures.push(format!("{row:?}: a token without a tenant was not refused"));
            }
            let with = status(Some(TOKEN), tenant);
            if with == 401 || with == 403 {
                failures.push(format!("{row:?}: answered {with} with a valid token"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows do not hold:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}
