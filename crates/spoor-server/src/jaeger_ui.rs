//! Hosting a Jaeger UI build instead of Spoor's own (`--ui-assets DIR`,
//! Jaeger's `query.static-files`), as Jaeger's query service does: files of
//! the build by path, `index.html` for every other page, with Jaeger's
//! search-and-replace injections into `index.html` (facts from Jaeger's
//! static handler):
//!
//! - `JAEGER_CONFIG = DEFAULT_CONFIG;` becomes `JAEGER_CONFIG = {…};` with
//!   the JSON object of `--ui-config FILE.json`; with `--ui-config FILE.js`
//!   (which must define `function UIConfig()`), the line `// JAEGER_CONFIG_JS`
//!   and the line after it become the file's content;
//! - `JAEGER_STORAGE_CAPABILITIES = DEFAULT_STORAGE_CAPABILITIES;` (Jaeger UI
//!   up to v1.7x) and `JAEGER_BACKEND_CAPABILITIES =
//!   DEFAULT_BACKEND_CAPABILITIES;` (newer) get what Spoor backs: archive,
//!   metrics (the Monitor tab), search without a service;
//! - `JAEGER_VERSION = DEFAULT_VERSION;` gets Spoor's version;
//! - `<base href="/"` gets the base path (older UIs; newer ones find it).
//!
//! The UI config file is read again when it changes. Paths Jaeger UI probes
//! for features Spoor lacks (`/analytics/…`, `/qualitymetrics-v2`,
//! `/serviceedges`, `/api/quality-metrics`), a missing file under
//! `/static/` and any unknown `/api/…` path answer a JSON 404, never the
//! page with 200.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Mutex;

use crate::AppState;

/// A Jaeger UI build on disk and the UI config file injected into it.
pub struct JaegerUiAssets {
    dir: PathBuf,
    index: String,
    config_file: Option<PathBuf>,
    /// The config file's injection and the modification time it was read at.
    config: Mutex<Option<(Option<SystemTime>, Injection)>>,
}

impl std::fmt::Debug for JaegerUiAssets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JaegerUiAssets")
            .field("dir", &self.dir)
            .field("config_file", &self.config_file)
            .finish_non_exhaustive()
    }
}

/// How a UI config file is injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injection {
    /// A `.json` file: the object's JSON.
    Json(String),
    /// A `.js` file defining `UIConfig()`: its text.
    Js(String),
}

/// Why the Jaeger UI cannot be served as configured.
#[derive(Debug, thiserror::Error)]
pub enum JaegerUiError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("UI config file {path}: {message}")]
    Config { path: PathBuf, message: String },
}

/// Reads a UI config file: a `.json` object or a `.js` file defining
/// `function UIConfig()`.
pub fn load_ui_config(path: &Path) -> Result<Injection, JaegerUiError> {
    let text = std::fs::read_to_string(path).map_err(|source| JaegerUiError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let config_err = |message: String| JaegerUiError::Config {
        path: path.to_path_buf(),
        message,
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("json") => {
            let value: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
                .map_err(|e| config_err(format!("not a JSON object: {e}")))?;
            Ok(Injection::Json(
                serde_json::Value::Object(value)
                    .to_string()
                    .replace('<', "\\u003c"),
            ))
        }
        Some("js") => {
            let text = text.trim().to_owned();
            if !defines_ui_config(&text) {
                return Err(config_err("it must define function UIConfig()".into()));
            }
            Ok(Injection::Js(text))
        }
        _ => Err(config_err(
            "expected a .json or a .js file (Jaeger's query.ui-config formats)".into(),
        )),
    }
}

/// Does `js` contain `function UIConfig() {` (spaces allowed as Jaeger allows)?
fn defines_ui_config(js: &str) -> bool {
    let mut rest = js;
    while let Some(at) = rest.find("function") {
        let after = rest[at + "function".len()..].trim_start();
        if let Some(after) = after.strip_prefix("UIConfig") {
            let after = after.trim_start();
            if let Some(after) = after.strip_prefix('(') {
                let after = after.trim_start();
                if let Some(after) = after.strip_prefix(')')
                    && after.trim_start().starts_with('{')
                {
                    return true;
                }
            }
        }
        rest = &rest[at + "function".len()..];
    }
    false
}

impl JaegerUiAssets {
    /// The build in `dir` (which must hold `index.html`) and, when given,
    /// the UI config file (read now; errors stop the start).
    pub fn open(dir: &Path, config_file: Option<&Path>) -> Result<JaegerUiAssets, JaegerUiError> {
        let index_path = dir.join("index.html");
        let index = std::fs::read_to_string(&index_path).map_err(|source| JaegerUiError::Read {
            path: index_path,
            source,
        })?;
        let config = match config_file {
            Some(path) => Some((modified(path), load_ui_config(path)?)),
            None => None,
        };
        Ok(JaegerUiAssets {
            dir: dir.to_path_buf(),
            index,
            config_file: config_file.map(Path::to_path_buf),
            config: Mutex::new(config),
        })
    }

    /// The UI config's injection, read again when the file changed (a file
    /// that no longer parses keeps the last good one, with a warning).
    fn current_config(&self) -> Option<Injection> {
        let path = self.config_file.as_ref()?;
        let mut held = self
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = modified(path);
        if held.as_ref().is_some_and(|(at, _)| *at != now) {
            match load_ui_config(path) {
                Ok(injection) => *held = Some((now, injection)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reload the UI config; keeping the last one");
                    if let Some((at, _)) = held.as_mut() {
                        *at = now;
                    }
                }
            }
        }
        held.as_ref().map(|(_, i)| i.clone())
    }

    /// `index.html` with Jaeger's injections.
    pub fn index_html(&self, base_path: &str, caps: &Capabilities) -> String {
        inject(&self.index, base_path, caps, self.current_config().as_ref())
    }

    /// The file at `path` (relative, `/`-separated) inside the build, if it
    /// is one: never outside the directory, never through `..`.
    fn file(&self, path: &str) -> Option<PathBuf> {
        let relative = Path::new(path);
        if path.is_empty()
            || relative
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
        {
            return None;
        }
        let full = self.dir.join(relative);
        let canonical = full.canonicalize().ok()?;
        let root = self.dir.canonicalize().ok()?;
        (canonical.starts_with(&root) && canonical.is_file()).then_some(canonical)
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// What the injected capabilities say Spoor backs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub archive: bool,
    pub metrics: bool,
    pub search_without_service: bool,
}

/// Replaces `NAME *= *DEFAULT;` (spaces around `=` optional) with
/// `NAME = value;`, everywhere.
fn replace_assignment(html: &str, name: &str, default: &str, value: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find(name) {
        out.push_str(&rest[..at]);
        let after = &rest[at + name.len()..];
        let trimmed = after.trim_start_matches(' ');
        let matched = trimmed.strip_prefix('=').and_then(|a| {
            a.trim_start_matches(' ')
                .strip_prefix(default)
                .and_then(|a| a.strip_prefix(';'))
        });
        match matched {
            Some(tail) => {
                out.push_str(&format!("{name} = {value};"));
                rest = tail;
            }
            None => {
                out.push_str(name);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Replaces the line holding `// JAEGER_CONFIG_JS` and the line after it
/// with `js` (Jaeger's `.js` UI config).
fn replace_config_js(html: &str, js: &str) -> String {
    let lines: Vec<&str> = html.split('\n').collect();
    let Some(at) = lines.iter().position(|l| {
        l.trim_start().strip_prefix("//").is_some_and(|c| {
            c.trim_start()
                .to_ascii_uppercase()
                .starts_with("JAEGER_CONFIG_JS")
        })
    }) else {
        return html.to_owned();
    };
    let mut out: Vec<&str> = lines[..at].to_vec();
    out.push(js);
    out.extend(lines.iter().skip(at + 2));
    out.join("\n")
}

/// `index` with Jaeger's injections (see the module documentation).
pub fn inject(
    index: &str,
    base_path: &str,
    caps: &Capabilities,
    config: Option<&Injection>,
) -> String {
    let mut html = match config {
        Some(Injection::Json(json)) => {
            replace_assignment(index, "JAEGER_CONFIG", "DEFAULT_CONFIG", json)
        }
        Some(Injection::Js(js)) => replace_config_js(index, js),
        None => index.to_owned(),
    };
    let version = serde_json::json!({
        "gitCommit": "",
        "gitVersion": concat!("v", env!("CARGO_PKG_VERSION"), " (Spoor)"),
        "buildDate": "",
    })
    .to_string();
    html = replace_assignment(&html, "JAEGER_VERSION", "DEFAULT_VERSION", &version);
    let storage = serde_json::json!({
        "archiveStorage": caps.archive,
        "metricsStorage": caps.metrics,
    })
    .to_string();
    html = replace_assignment(
        &html,
        "JAEGER_STORAGE_CAPABILITIES",
        "DEFAULT_STORAGE_CAPABILITIES",
        &storage,
    );
    let backend = serde_json::json!({
        "archiveStorage": caps.archive,
        "metricsStorage": caps.metrics,
        "searchWithoutServiceName": caps.search_without_service,
        "aiAssistant": false,
    })
    .to_string();
    html = replace_assignment(
        &html,
        "JAEGER_BACKEND_CAPABILITIES",
        "DEFAULT_BACKEND_CAPABILITIES",
        &backend,
    );
    if !base_path.is_empty() {
        let href: String = base_path
            .chars()
            .filter(|c| !matches!(c, '"' | '<' | '>' | '&' | '\'') && !c.is_control())
            .collect();
        html = html.replacen("<base href=\"/\"", &format!("<base href=\"{href}/\""), 1);
    }
    html
}

/// Paths Jaeger UI probes for features Spoor does not have.
fn is_probe(path: &str) -> bool {
    path == "analytics"
        || path.starts_with("analytics/")
        || path == "qualitymetrics-v2"
        || path == "serviceedges"
        || path == "api"
        || path.starts_with("api/")
}

fn mime(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Answers a GET of `path` (relative to the base path, no leading `/`).
pub async fn serve(state: &AppState, ui: &Arc<JaegerUiAssets>, path: &str) -> Response {
    if is_probe(path) {
        return crate::ui::not_found(&format!("{}/{path}", state.base_path));
    }
    if path != "index.html"
        && let Some(file) = ui.file(path)
    {
        let read = {
            let file = file.clone();
            tokio::task::spawn_blocking(move || std::fs::read(file)).await
        };
        let Ok(Ok(bytes)) = read else {
            return crate::ui::not_found(&format!("{}/{path}", state.base_path));
        };
        let mut resp = (StatusCode::OK, bytes).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(&file)));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if path.starts_with("static/") {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            }),
        );
        return resp;
    }
    if path.starts_with("static/") {
        return crate::ui::not_found(&format!("{}/{path}", state.base_path));
    }
    let storage = state.query.capabilities();
    let caps = Capabilities {
        archive: state.ui.archive,
        metrics: storage.metrics && state.query.has_metrics(),
        search_without_service: storage.search_without_service,
    };
    let mut resp = (StatusCode::OK, ui.index_html(&state.base_path, &caps)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The placeholders of Jaeger UI's `index.html`, as Jaeger's query
    /// service searches for them (older UIs: storage capabilities and a
    /// `<base href="/"`; newer: backend capabilities).
    const INDEX: &str = r#"<!doctype html>
<html lang="en">
  <head>
    <base href="/" data-inject-target="BASE_URL" />
    <script>
      // JAEGER_CONFIG_JS
      // the line above may be replaced by user-provided JS file that should define a UIConfig function.
      function getJaegerUiConfig() {
        const DEFAULT_CONFIG = null;
        const JAEGER_CONFIG = DEFAULT_CONFIG;
        return JAEGER_CONFIG;
      }
      function getJaegerStorageCapabilities() {
        const DEFAULT_STORAGE_CAPABILITIES = { "archiveStorage": false };
        const JAEGER_STORAGE_CAPABILITIES = DEFAULT_STORAGE_CAPABILITIES;
        return JAEGER_STORAGE_CAPABILITIES;
      }
      const JAEGER_BACKEND_CAPABILITIES=DEFAULT_BACKEND_CAPABILITIES;
      function getJaegerVersion() {
        const DEFAULT_VERSION = {"gitCommit":"", "gitVersion":"", "buildDate":""};
        const JAEGER_VERSION = DEFAULT_VERSION;
        return JAEGER_VERSION;
      }
    </script>
  </head>
</html>"#;

    const CAPS: Capabilities = Capabilities {
        archive: false,
        metrics: true,
        search_without_service: true,
    };

    #[test]
    fn every_placeholder_is_injected() {
        let config = Injection::Json(r#"{"monitor":{"menuEnabled":true}}"#.into());
        let html = inject(INDEX, "/jaeger", &CAPS, Some(&config));
        assert!(
            html.contains(r#"const JAEGER_CONFIG = {"monitor":{"menuEnabled":true}};"#),
            "{html}"
        );
        assert!(html.contains(
            r#"const JAEGER_STORAGE_CAPABILITIES = {"archiveStorage":false,"metricsStorage":true};"#
        ));
        assert!(html.contains(r#"JAEGER_BACKEND_CAPABILITIES = {"aiAssistant":false,"archiveStorage":false,"metricsStorage":true,"searchWithoutServiceName":true};"#), "{html}");
        assert!(
            html.contains(
                r#"const JAEGER_VERSION = {"buildDate":"","gitCommit":"","gitVersion":"v"#
            )
        );
        assert!(html.contains(r#"<base href="/jaeger/" data-inject-target"#));
        // The defaults themselves are left alone.
        assert!(html.contains("const DEFAULT_CONFIG = null;"));
    }

    #[test]
    fn a_js_config_replaces_its_marker_line_and_the_next() {
        let js = "function UIConfig() {\n  return { archiveEnabled: false };\n}";
        let html = inject(INDEX, "", &CAPS, Some(&Injection::Js(js.into())));
        assert!(html.contains("function UIConfig() {"));
        assert!(!html.contains("JAEGER_CONFIG_JS"));
        assert!(!html.contains("the line above may be replaced"));
        assert!(
            html.contains("const JAEGER_CONFIG = DEFAULT_CONFIG;"),
            "JSON left as is"
        );
        assert!(
            html.contains(r#"<base href="/" data-inject-target"#),
            "no base path: unchanged"
        );
    }

    #[test]
    fn config_files_are_checked() {
        let dir = std::env::temp_dir().join(format!("spoor-jaeger-ui-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        assert!(matches!(
            load_ui_config(&write("a.json", r#"{"x":"</script>"}"#)).unwrap(),
            Injection::Json(j) if j == r#"{"x":"\u003c/script>"}"#
        ));
        assert!(load_ui_config(&write("b.json", "[1]")).is_err());
        assert!(load_ui_config(&write("c.js", "function UIConfig ( ) { return {}; }")).is_ok());
        assert!(load_ui_config(&write("d.js", "var x = 1;")).is_err());
        assert!(load_ui_config(&write("e.yaml", "x: 1")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_never_come_from_outside_the_build() {
        let dir =
            std::env::temp_dir().join(format!("spoor-jaeger-ui-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("static")).unwrap();
        std::fs::write(dir.join("index.html"), INDEX).unwrap();
        std::fs::write(dir.join("static/app.js"), "x").unwrap();
        let ui = JaegerUiAssets::open(&dir, None).unwrap();
        assert!(ui.file("static/app.js").is_some());
        for bad in [
            "",
            "../etc/passwd",
            "static/../../x",
            "/etc/passwd",
            "static",
        ] {
            assert!(ui.file(bad).is_none(), "{bad}");
        }
        for probe in [
            "analytics/events",
            "qualitymetrics-v2",
            "serviceedges",
            "api/quality-metrics",
        ] {
            assert!(is_probe(probe), "{probe}");
        }
        assert!(!is_probe("monitor"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
