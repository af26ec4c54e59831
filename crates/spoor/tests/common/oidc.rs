//! A real OpenID Connect provider and a real authenticating reverse proxy
//! for the security tests: mockoidc (`scripts/tools/mockoidc.sh`, our small
//! `main` around the library; `SPOOR_TEST_MOCKOIDC`) and oauth2-proxy v7.15.6
//! (`scripts/tools/oauth2-proxy.sh`; `SPOOR_TEST_OAUTH2_PROXY`), each started
//! on a loopback address of the test's own and killed on drop.
//!
//! ```ignore
//! let Some(oidc) = MockOidc::start("127.0.0.96", &OidcUser::new("alice")) else { return };
//! let token = oidc.mint_token(serde_json::json!({"tenant": "acme"}));   // RS256, mockoidc's key
//! let Some(proxy) = OAuth2Proxy::start("127.0.0.96", &oidc, &spoor.query("/"), &[]) else { return };
//! ```
//!
//! Both helpers return `None` (and print why; the test is then skipped) when
//! the tool was not built: scripts/test.sh builds both and sets the variables.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::poll_until;

/// mockoidc's version (a Go pseudo-version) in `scripts/tools/mockoidc.sh`.
const MOCKOIDC_DIR: &str = "mockoidc-v0.0.0-20261103160011-e06ed0b7cb7f/bin/spoor-mockoidc";
/// oauth2-proxy's version in `scripts/tools/oauth2-proxy.sh`.
const OAUTH2_PROXY_DIR: &str = "oauth2-proxy-v7.15.6/bin/oauth2-proxy";

/// The client mockoidc accepts and oauth2-proxy (or Spoor's login) uses.
pub const CLIENT_ID: &str = "spoor-ui";
pub const CLIENT_SECRET: &str = "spoor-ui-secret";

/// A tool built by scripts/tools: the path in `var` when set (it must then
/// exist), else the one under `${SPOOR_TOOLS_DIR:-/var/tmp/spoor-tools}`,
/// else `None`.
pub fn tool(var: &str, under_tools_dir: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{var}={} does not exist", path.display());
        return Some(path);
    }
    let path = PathBuf::from(
        std::env::var("SPOOR_TOOLS_DIR").unwrap_or_else(|_| "/var/tmp/spoor-tools".into()),
    )
    .join(under_tools_dir);
    path.is_file().then_some(path)
}

/// A free TCP port on `host`.
pub fn free_addr(host: &str) -> SocketAddr {
    TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("no free port on {host}: {e}"))
}

/// The user mockoidc logs in (no form: the authorize endpoint answers with a
/// redirect carrying the code at once).
#[derive(Debug, Clone)]
pub struct OidcUser {
    pub sub: String,
    pub email: String,
    pub username: String,
    pub groups: Vec<String>,
    /// Extra claims, in the ID token and the userinfo answer.
    pub claims: serde_json::Map<String, Value>,
}

impl OidcUser {
    /// `name`, with e-mail `name@example.com` (verified) and no extra claim.
    pub fn new(name: &str) -> OidcUser {
        OidcUser {
            sub: name.to_string(),
            email: format!("{name}@example.com"),
            username: name.to_string(),
            groups: Vec::new(),
            claims: serde_json::Map::new(),
        }
    }

    /// With the extra claim `name` = `value`.
    pub fn claim(mut self, name: &str, value: Value) -> OidcUser {
        self.claims.insert(name.to_string(), value);
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "sub": self.sub,
            "email": self.email,
            "username": self.username,
            "groups": self.groups,
            "claims": self.claims,
        })
    }
}

/// A process killed on drop, its output in a file printed when the test
/// fails.
struct Process {
    name: &'static str,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Process {
    fn log(&self) -> String {
        let mut text = String::new();
        let _ = self
            .log
            .reopen()
            .and_then(|mut f| f.read_to_string(&mut text));
        text
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- {} log -----\n{}\n----- end of {} log -----",
                self.name,
                self.log(),
                self.name
            );
        }
    }
}

/// A running mockoidc.
pub struct MockOidc {
    /// The issuer URL (`http://HOST:PORT/oidc`), as in its tokens' `iss`.
    pub issuer: String,
    process: Process,
    http: reqwest::blocking::Client,
}

impl MockOidc {
    /// mockoidc on a free port of `host`, logging in `user` (unless another
    /// was queued with [`MockOidc::queue_user`]), with [`CLIENT_ID`] and
    /// [`CLIENT_SECRET`]; `None` when it is not built.
    pub fn start(host: &str, user: &OidcUser) -> Option<MockOidc> {
        let Some(bin) = tool("SPOOR_TEST_MOCKOIDC", MOCKOIDC_DIR) else {
            eprintln!(
                "SKIPPED: mockoidc is not built (scripts/tools/mockoidc.sh; \
                 scripts/test.sh sets SPOOR_TEST_MOCKOIDC)"
            );
            return None;
        };
        Some(Self::start_bin(&bin, host, user, &[]))
    }

    /// As [`MockOidc::start`], serving HTTPS with `cert_file`/`key_file`.
    pub fn start_tls(
        host: &str,
        user: &OidcUser,
        cert_file: &str,
        key_file: &str,
    ) -> Option<MockOidc> {
        let bin = tool("SPOOR_TEST_MOCKOIDC", MOCKOIDC_DIR)?;
        Some(Self::start_bin(
            &bin,
            host,
            user,
            &["-tls-cert", cert_file, "-tls-key", key_file],
        ))
    }

    fn start_bin(bin: &Path, host: &str, user: &OidcUser, extra: &[&str]) -> MockOidc {
        super::install_tls_provider();
        let log = tempfile::NamedTempFile::new().expect("create the mockoidc log");
        let mut command = Command::new(bin);
        command
            .args(["-listen", &format!("{host}:0")])
            .args(["-client-id", CLIENT_ID, "-client-secret", CLIENT_SECRET])
            .args(["-sub", &user.sub, "-email", &user.email])
            .args(["-username", &user.username]);
        if !user.groups.is_empty() {
            command.args(["-groups", &user.groups.join(",")]);
        }
        for (name, value) in &user.claims {
            command.args(["-claim", &format!("{name}={value}")]);
        }
        let mut child = command
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.reopen().expect("reopen the log")))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        // The first line of stdout is the issuer, printed once listening.
        let stdout = child.stdout.take().expect("mockoidc's stdout");
        let mut issuer = String::new();
        let read = BufReader::new(stdout).read_line(&mut issuer);
        let process = Process {
            name: "mockoidc",
            child,
            log,
        };
        let issuer = issuer.trim().to_string();
        assert!(
            read.is_ok() && issuer.starts_with("http"),
            "mockoidc did not print its issuer:\n{}",
            process.log()
        );
        MockOidc {
            issuer,
            process,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .danger_accept_invalid_certs(true)
                .build()
                .expect("build the HTTP client"),
        }
    }

    /// `scheme://host:port`, without the issuer's `/oidc`.
    pub fn base(&self) -> String {
        self.issuer.trim_end_matches("/oidc").to_string()
    }

    /// The discovery document's URL.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// The JWKS URL (mockoidc's RSA key).
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.issuer)
    }

    /// The next login is `user` (then the one given at start again).
    pub fn queue_user(&self, user: &OidcUser) {
        let resp = self
            .http
            .post(format!("{}/spoor/users", self.base()))
            .json(&user.to_json())
            .send()
            .expect("POST /spoor/users");
        assert_eq!(resp.status().as_u16(), 204, "queue a mockoidc user");
    }

    /// An RS256 JWT signed with the provider's key, with `claims` over the
    /// defaults (`iss` = the issuer, `aud` = [`CLIENT_ID`], `sub` `jane`,
    /// `iat`/`nbf` now, `exp` in 10 minutes); a `null` claim is left out.
    pub fn mint_token(&self, claims: Value) -> String {
        let resp = self
            .http
            .post(format!("{}/spoor/token", self.base()))
            .json(&claims)
            .send()
            .expect("POST /spoor/token");
        assert_eq!(resp.status().as_u16(), 200, "mint a token");
        let body: Value = resp.json().expect("a JSON answer");
        body["token"].as_str().expect("a token").to_string()
    }

    /// What mockoidc logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// A running oauth2-proxy.
pub struct OAuth2Proxy {
    /// Where it listens (plain HTTP).
    pub addr: SocketAddr,
    process: Process,
}

impl OAuth2Proxy {
    /// oauth2-proxy on a free port of `host`, with `oidc` as its OIDC
    /// provider (client [`CLIENT_ID`]), any e-mail domain, no sign-in page
    /// (a request without a session is sent to the provider at once), the
    /// session in a cookie (not `Secure`: the test speaks plain HTTP), and
    /// `upstream` (a URL, say Spoor's query listener) behind it, given
    /// `X-Forwarded-User` and `X-Forwarded-Email`; `extra` flags last.
    /// `None` when it is not built.
    pub fn start(
        host: &str,
        oidc: &MockOidc,
        upstream: &str,
        extra: &[&str],
    ) -> Option<OAuth2Proxy> {
        let Some(bin) = tool("SPOOR_TEST_OAUTH2_PROXY", OAUTH2_PROXY_DIR) else {
            eprintln!(
                "SKIPPED: oauth2-proxy is not built (scripts/tools/oauth2-proxy.sh; \
                 scripts/test.sh sets SPOOR_TEST_OAUTH2_PROXY)"
            );
            return None;
        };
        let mut last = String::new();
        for _attempt in 0..3 {
            let addr = free_addr(host);
            let log = tempfile::NamedTempFile::new().expect("create the oauth2-proxy log");
            let child = Command::new(&bin)
                .arg(format!("--http-address=http://{addr}"))
                .arg("--provider=oidc")
                .arg(format!("--oidc-issuer-url={}", oidc.issuer))
                .arg(format!("--client-id={CLIENT_ID}"))
                .arg(format!("--client-secret={CLIENT_SECRET}"))
                .arg(format!("--redirect-url=http://{addr}/oauth2/callback"))
                .arg(format!("--upstream={upstream}"))
                .arg("--email-domain=*")
                .arg("--scope=openid email profile")
                .arg("--code-challenge-method=S256")
                .arg("--skip-provider-button=true")
                // 32 bytes: AES-256 for the session cookie.
                .arg("--cookie-secret=0123456789abcdef0123456789abcdef")
                .arg("--cookie-secure=false")
                .arg("--pass-user-headers=true")
                .arg("--pass-host-header=false")
                .arg("--set-xauthrequest=true")
                .args(extra)
                // Its own environment only: no OAUTH2_PROXY_* of the caller.
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.reopen().expect("reopen the log")))
                .stderr(Stdio::from(log.reopen().expect("reopen the log")))
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            let mut proxy = OAuth2Proxy {
                addr,
                process: Process {
                    name: "oauth2-proxy",
                    child,
                    log,
                },
            };
            let ping = format!("http://{addr}/ping");
            let up = poll_until(Duration::from_secs(20), || {
                if let Ok(Some(_)) = proxy.process.child.try_wait() {
                    return Some(false);
                }
                reqwest::blocking::get(&ping)
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| true)
            });
            match up {
                Some(true) => return Some(proxy),
                _ => {
                    last = proxy.process.log();
                    let _ = proxy.process.child.kill();
                    if !last.contains("address already in use") {
                        panic!("oauth2-proxy did not start:\n{last}");
                    }
                }
            }
        }
        panic!("oauth2-proxy could not bind a port after 3 attempts:\n{last}");
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What oauth2-proxy logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// A browser-like client for a scripted login: follows redirects itself
/// (proxy → provider → proxy's callback → the page first asked for) and keeps
/// the cookies it is given (one site: the test's loopback host), sending its
/// requests from `local_ip`.
pub struct Browser {
    http: reqwest::blocking::Client,
    /// Cookie name → value.
    pub cookies: std::collections::BTreeMap<String, String>,
    /// Every URL visited, in order.
    pub visited: Vec<String>,
}

impl Browser {
    pub fn new(local_ip: &str) -> Browser {
        super::install_tls_provider();
        Browser {
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(local_ip.parse::<std::net::IpAddr>().ok())
                .timeout(Duration::from_secs(20))
                .build()
                .expect("build the browser client"),
            cookies: std::collections::BTreeMap::new(),
            visited: Vec::new(),
        }
    }

    /// `GET url`, following up to 10 redirects; the final answer (status,
    /// body).
    pub fn get(&mut self, url: &str) -> (u16, String) {
        let mut url = reqwest::Url::parse(url).expect("a URL");
        for _hop in 0..10 {
            self.visited.push(url.to_string());
            let mut req = self.http.get(url.clone());
            if !self.cookies.is_empty() {
                let header: Vec<String> = self
                    .cookies
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                req = req.header("Cookie", header.join("; "));
            }
            let resp = req
                .send()
                .unwrap_or_else(|e| panic!("GET {url}: {e}; visited {:?}", self.visited));
            for set in resp.headers().get_all("set-cookie") {
                let Ok(set) = set.to_str() else { continue };
                let pair = set.split(';').next().unwrap_or("");
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                let gone = value.is_empty()
                    || set.to_ascii_lowercase().contains("max-age=0")
                    || set.to_ascii_lowercase().contains("max-age=-");
                if gone {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_string(), value.to_string());
                }
            }
            let status = resp.status().as_u16();
            if resp.status().is_redirection() {
                let location = resp
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or_else(|| panic!("a redirect without Location from {url}"));
                url = url.join(location).expect("a Location URL");
                continue;
            }
            return (status, resp.text().unwrap_or_default());
        }
        panic!("more than 10 redirects: {:?}", self.visited);
    }
}

/// Waits until `f` holds, for at most `timeout`; panics with `what`.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
