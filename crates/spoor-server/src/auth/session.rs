//! The web UI's login sessions: a server-side store of the users who logged
//! in through Spoor's own OIDC login ([`super::login`]), found by the
//! `spoor_session` cookie.
//!
//! A session ID is 256 random bits from the system's secure generator; the
//! store keeps only its SHA-256, so the store itself holds nothing a cookie
//! could be rebuilt from. Sessions end after an idle time without requests,
//! at an absolute age whatever the activity, and at logout; the store holds
//! at most a bounded number (the least recently used is dropped first).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;

use super::{AuthMethod, Identity, TenantGrant};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "spoor_session";

/// Bytes of randomness in a session ID (256 bits).
const SESSION_ID_BYTES: usize = 32;

/// How long sessions live and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session unused for this long ends.
    pub idle: Duration,
    /// A session ends this long after the login, used or not.
    pub absolute: Duration,
    /// Most sessions held at once.
    pub max_sessions: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::from_secs(2 * 3600),
            absolute: Duration::from_secs(12 * 3600),
            max_sessions: 10_000,
        }
    }
}

/// What a session remembers of its user.
#[derive(Debug, Clone)]
struct Session {
    subject: String,
    tenants: TenantGrant,
    created: Instant,
    last_seen: Instant,
}

/// The login sessions of the query listener. The default store has login
/// off: it knows no session.
#[derive(Debug, Default)]
pub struct Sessions {
    limits: SessionLimits,
    enabled: bool,
    /// SHA-256 of the session ID → session.
    store: Mutex<HashMap<[u8; 32], Session>>,
}

/// A new session could not be created.
#[derive(Debug, thiserror::Error)]
#[error("the system's random number generator failed")]
pub struct RandomError;

impl Sessions {
    /// A store for logged-in users, within `limits`.
    pub fn new(limits: SessionLimits) -> Self {
        Sessions {
            limits,
            enabled: true,
            store: Mutex::new(HashMap::new()),
        }
    }

    /// The limits sessions live within.
    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// The identity of the session whose cookie `headers` carry, if any; a
    /// hit counts as activity (it postpones the idle expiry).
    pub fn identity(&self, headers: &http::HeaderMap) -> Option<Identity> {
        self.identity_at(headers, Instant::now())
    }

    /// [`Sessions::identity`] at time `now`.
    pub fn identity_at(&self, headers: &http::HeaderMap, now: Instant) -> Option<Identity> {
        if !self.enabled {
            return None;
        }
        let key = session_key(&cookie_value(headers, COOKIE_NAME)?)?;
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let session = store.get_mut(&key)?;
        if self.expired(session, now) {
            store.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(Identity {
            subject: session.subject.clone(),
            method: AuthMethod::Session,
            tenants: session.tenants.clone(),
        })
    }

    /// Starts a session for `subject` and returns its ID, the cookie's value.
    pub fn create(&self, subject: &str, tenants: TenantGrant) -> Result<String, RandomError> {
        self.create_at(subject, tenants, Instant::now())
    }

    /// [`Sessions::create`] at time `now`.
    pub fn create_at(
        &self,
        subject: &str,
        tenants: TenantGrant,
        now: Instant,
    ) -> Result<String, RandomError> {
        let id = random_token(SESSION_ID_BYTES)?;
        let key = session_key(&id).ok_or(RandomError)?;
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if store.len() >= self.limits.max_sessions {
            store.retain(|_, s| !self.expired(s, now));
        }
        while store.len() >= self.limits.max_sessions.max(1) {
            let Some(oldest) = store
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k)
            else {
                break;
            };
            store.remove(&oldest);
        }
        store.insert(
            key,
            Session {
                subject: subject.to_string(),
                tenants,
                created: now,
                last_seen: now,
            },
        );
        Ok(id)
    }

    /// Ends the session whose cookie `headers` carry; whether there was one.
    pub fn end(&self, headers: &http::HeaderMap) -> bool {
        let Some(key) = cookie_value(headers, COOKIE_NAME).and_then(|v| session_key(&v)) else {
            return false;
        };
        self.store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key)
            .is_some()
    }

    /// Sessions held (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.store.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.saturating_duration_since(s.last_seen) >= self.limits.idle
            || now.saturating_duration_since(s.created) >= self.limits.absolute
    }
}

/// The store's key of a session ID: its SHA-256, or `None` for a value that
/// is not one of our IDs (wrong length or alphabet), which is not looked up.
fn session_key(id: &str) -> Option<[u8; 32]> {
    let raw = URL_SAFE_NO_PAD.decode(id.as_bytes()).ok()?;
    if raw.len() != SESSION_ID_BYTES {
        return None;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    digest.as_ref().try_into().ok()
}

/// `bytes` random bytes from the system's secure generator, base64url.
pub fn random_token(bytes: usize) -> Result<String, RandomError> {
    use ring::rand::SecureRandom as _;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| RandomError)?;
    Ok(URL_SAFE_NO_PAD.encode(&buf))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

/// How the session cookie is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieAttributes {
    /// `Path`: the base path followed by `/`.
    pub path: String,
    /// `Secure`: the listener has TLS or the configuration asks for it.
    pub secure: bool,
}

impl CookieAttributes {
    /// The attributes of the session cookie under `base_path` (`""` or
    /// `/name`).
    pub fn new(base_path: &str, secure: bool) -> Self {
        CookieAttributes {
            path: format!("{base_path}/"),
            secure,
        }
    }

    /// `Set-Cookie` for a new session `id` living at most `max_age`.
    pub fn set(&self, id: &str, max_age: Duration) -> Option<HeaderValue> {
        self.header(id, max_age.as_secs())
    }

    /// `Set-Cookie` that removes the cookie.
    pub fn clear(&self) -> Option<HeaderValue> {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age: u64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE_NAME}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            self.path
        ))
        .ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits() -> SessionLimits {
        SessionLimits {
            idle: Duration::from_secs(60),
            absolute: Duration::from_secs(300),
            max_sessions: 3,
        }
    }

    fn with_cookie(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; {COOKIE_NAME}={value}; other=1")).unwrap(),
        );
        h
    }

    #[test]
    fn a_session_maps_its_cookie_to_the_identity() {
        let s = Sessions::new(limits());
        let id = s
            .create("ana@example.com", TenantGrant::Only(vec!["a".into()]))
            .unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&id).unwrap().len(), 32);
        let who = s.identity(&with_cookie(&id)).unwrap();
        assert_eq!(who.subject, "ana@example.com");
        assert_eq!(who.method, AuthMethod::Session);
        assert_eq!(who.tenants, TenantGrant::Only(vec!["a".into()]));
        // Another value, a truncated one, none at all: nobody.
        let other = random_token(32).unwrap();
        assert!(s.identity(&with_cookie(&other)).is_none());
        assert!(s.identity(&with_cookie(&id[..20])).is_none());
        assert!(s.identity(&http::HeaderMap::new()).is_none());
        // Two sessions never share an ID.
        assert_ne!(id, s.create("b", TenantGrant::Any).unwrap());
    }

    #[test]
    fn sessions_expire_when_idle_and_at_their_absolute_age() {
        let s = Sessions::new(limits());
        let t0 = Instant::now();
        let id = s.create_at("u", TenantGrant::Any, t0).unwrap();
        let h = with_cookie(&id);
        // Used every 50 s, it outlives the 60 s idle time...
        for step in 1..=5 {
            assert!(
                s.identity_at(&h, t0 + Duration::from_secs(50 * step))
                    .is_some()
            );
        }
        // ...but not the 300 s absolute age.
        assert!(s.identity_at(&h, t0 + Duration::from_secs(300)).is_none());
        assert!(s.is_empty(), "an expired session is dropped when seen");

        let id = s.create_at("u", TenantGrant::Any, t0).unwrap();
        let h = with_cookie(&id);
        assert!(s.identity_at(&h, t0 + Duration::from_secs(59)).is_some());
        assert!(
            s.identity_at(&h, t0 + Duration::from_secs(59 + 60))
                .is_none()
        );
    }

    #[test]
    fn the_store_is_bounded_and_drops_the_least_recently_used() {
        let s = Sessions::new(limits());
        let t0 = Instant::now();
        let ids: Vec<String> = (0..3)
            .map(|i| {
                s.create_at(
                    &format!("u{i}"),
                    TenantGrant::Any,
                    t0 + Duration::from_secs(i),
                )
                .unwrap()
            })
            .collect();
        // u0 is used again; u1 is now the least recently used.
        assert!(
            s.identity_at(&with_cookie(&ids[0]), t0 + Duration::from_secs(5))
                .is_some()
        );
        s.create_at("u3", TenantGrant::Any, t0 + Duration::from_secs(6))
            .unwrap();
        assert_eq!(s.len(), 3);
        let at = t0 + Duration::from_secs(7);
        assert!(s.identity_at(&with_cookie(&ids[0]), at).is_some());
        assert!(s.identity_at(&with_cookie(&ids[1]), at).is_none());
        assert!(s.identity_at(&with_cookie(&ids[2]), at).is_some());
    }

    #[test]
    fn logout_ends_the_session() {
        let s = Sessions::new(limits());
        let id = s.create("u", TenantGrant::Any).unwrap();
        let h = with_cookie(&id);
        assert!(s.end(&h));
        assert!(s.identity(&h).is_none());
        assert!(!s.end(&h));
    }

    #[test]
    fn the_default_store_has_login_off() {
        let s = Sessions::default();
        assert!(
            s.identity(&with_cookie(&random_token(32).unwrap()))
                .is_none()
        );
    }

    #[test]
    fn the_cookie_is_http_only_same_site_lax_under_the_base_path() {
        let plain = CookieAttributes::new("/spoor", false)
            .set("abc", Duration::from_secs(3600))
            .unwrap();
        assert_eq!(
            plain.to_str().unwrap(),
            "spoor_session=abc; Path=/spoor/; Max-Age=3600; HttpOnly; SameSite=Lax"
        );
        let secure = CookieAttributes::new("", true)
            .set("abc", Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            secure.to_str().unwrap(),
            "spoor_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        let cleared = CookieAttributes::new("", true).clear().unwrap();
        assert!(
            cleared
                .to_str()
                .unwrap()
                .starts_with("spoor_session=; Path=/; Max-Age=0;")
        );
    }
}
