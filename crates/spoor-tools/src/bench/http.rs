//! A small HTTP/1.1 client for the query, status and metrics endpoints of
//! the server under test (keep-alive, bodies read in full), over the
//! workspace's one client construction (`spoor_client::http`).

use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;

/// Longest wait for one answer.
const TIMEOUT: Duration = Duration::from_secs(120);

/// An HTTP client with pooled connections.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: spoor_client::http::HttpClient,
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new()
    }
}

impl HttpClient {
    /// A new client.
    pub fn new() -> HttpClient {
        HttpClient {
            client: spoor_client::http::client(),
        }
    }

    /// `GET url`: the status and the whole body.
    pub async fn get(&self, url: &str) -> Result<(u16, Bytes)> {
        Ok(spoor_client::http::get(&self.client, url, TIMEOUT).await?)
    }
}

/// Percent-encodes `s` for a URL query (or path segment): everything but
/// ASCII letters, digits and `-._~` becomes `%XX`.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component("ts-order-service"), "ts-order-service");
        assert_eq!(
            encode_component("GET /api/v1/x?{id}"),
            "GET%20%2Fapi%2Fv1%2Fx%3F%7Bid%7D"
        );
        assert_eq!(
            encode_component("{\"db.system\":\"é\"}"),
            "%7B%22db.system%22%3A%22%C3%A9%22%7D"
        );
    }
}
