//! The web UI, embedded in the binary.
//!
//! The UI is built from `ui/` with Vite into `ui/dist/`; this crate embeds
//! that folder. When it was not built (a plain `cargo build` on a machine
//! without Node), [`index_html`] returns a placeholder page that says how to
//! build it, so the binary always builds and always serves something useful.
//!
//! This crate knows nothing of HTTP: the server adapts [`Asset`]s to responses.

use std::borrow::Cow;

#[derive(rust_embed::RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../../ui/dist/"]
#[allow_missing = true]
struct Dist;

/// One embedded file.
#[derive(Debug, Clone)]
pub struct Asset {
    pub data: Cow<'static, [u8]>,
    pub mime: &'static str,
    /// Hex SHA-256 of the content, usable as an ETag.
    pub hash: String,
}

/// The file at `path` (relative, no leading slash), if the UI was built and has it.
pub fn get(path: &str) -> Option<Asset> {
    let file = Dist::get(path)?;
    let hash = file
        .metadata
        .sha256_hash()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(Asset {
        data: file.data,
        mime: mime_for(path),
        hash,
    })
}

/// Whether a UI build was embedded.
pub fn is_built() -> bool {
    Dist::get("index.html").is_some()
}

/// The UI's `index.html`, or the placeholder page when the UI was not built.
pub fn index_html() -> Cow<'static, [u8]> {
    match Dist::get("index.html") {
        Some(f) => f.data,
        None => Cow::Borrowed(PLACEHOLDER.as_bytes()),
    }
}

/// The content type for a file name, by extension.
pub fn mime_for(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Spoor</title>
<style>
 body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:4rem auto;padding:0 1rem;color:#1d2430}
 code,pre{background:#f1f3f6;border-radius:4px;padding:.1rem .3rem}
 pre{padding:.8rem;overflow:auto}
</style></head>
<body>
<h1>Spoor is running</h1>
<p>This binary was built without the web UI (it was built where Node.js was not used).
The APIs all work: for example <a href="api/services"><code>/api/services</code></a>,
<a href="api/v3/services"><code>/api/v3/services</code></a>; Jaeger UI and Grafana's Jaeger data source can point here.</p>
<p>To build the UI into the binary, from the repository root:</p>
<pre>npm --prefix ui ci
npm --prefix ui run build
cargo build --release -p spoor</pre>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_always_served() {
        let html = index_html();
        assert!(html.starts_with(b"<!doctype html>") || html.starts_with(b"<!DOCTYPE html>"));
        if !is_built() {
            assert!(String::from_utf8_lossy(&html).contains("npm --prefix ui run build"));
        }
    }

    #[test]
    fn mime_types_by_extension() {
        assert_eq!(
            mime_for("assets/app.3f2a.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(mime_for("index.html"), "text/html; charset=utf-8");
        assert_eq!(mime_for("noext"), "application/octet-stream");
    }
}
