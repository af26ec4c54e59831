//! OIDC/JWT bearer tokens verified against the issuer's JWKS (ring).
//!
//! The JWKS URL comes from the settings or the issuer's discovery document
//! (`{issuer}/.well-known/openid-configuration`, `jwks_uri`). The keys are
//! fetched on first use, again after `refresh_interval`, and at once when a
//! token names a key ID the set does not have (at most once per
//! [`MIN_REFETCH`]); a failed fetch keeps the previous keys. Algorithms:
//! RS256/384/512, PS256/384/512, ES256/384 and EdDSA (Ed25519), each only
//! with a key of its type; `none` and HMAC are refused.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

use super::{AuthError, AuthMethod, Failure, Identity, TenantGrant};

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(60);
/// The least time between two fetches of the keys.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);
/// Default time between refreshes of the keys.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
/// How long a fetch of the discovery document or the keys may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// `security.auth.<group>.oidc`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer URL, exactly as tokens' `iss` says it.
    pub issuer: String,
    /// The audience tokens must be for (`aud`).
    pub audience: String,
    /// The JWKS URL; default: the discovery document's `jwks_uri`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The claim naming the tenant(s) of the token (a string or an array).
    #[serde(default)]
    pub tenant_claim: Option<String>,
    /// Claims tokens must carry with these values (an array claim must
    /// contain the value).
    #[serde(default)]
    pub required_claims: BTreeMap<String, Value>,
    /// How often the keys are fetched again (Go duration, default `1h`).
    #[serde(default)]
    pub refresh_interval: Option<String>,
}

/// A public key of the JWKS.
#[derive(Debug, Clone)]
struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    key: KeyMaterial,
}

#[derive(Debug, Clone)]
enum KeyMaterial {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256(Vec<u8>),
    P384(Vec<u8>),
    Ed25519(Vec<u8>),
}

#[derive(Debug)]
struct KeySet {
    keys: Vec<Jwk>,
    fetched: Instant,
}

impl KeySet {
    fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

#[derive(Debug, Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    jwks_uri: Option<String>,
}

/// Verifies the bearer JWTs of one group.
#[derive(Debug)]
pub struct OidcVerifier {
    group: &'static str,
    issuer: String,
    audience: String,
    jwks_url: Option<String>,
    tenant_claim: Option<String>,
    required_claims: BTreeMap<String, Value>,
    refresh: Duration,
    min_refetch: Duration,
    client: spoor_client::http::HttpClient,
    keys: RwLock<Option<Arc<KeySet>>>,
    fetch: tokio::sync::Mutex<FetchState>,
}

impl OidcVerifier {
    /// A verifier for `settings` (nothing is fetched yet).
    pub fn new(group: &'static str, settings: &OidcSettings) -> Result<Self, AuthError> {
        let invalid = |what: &'static str, message: String| AuthError::Invalid {
            group,
            what,
            message,
        };
        let issuer = settings.issuer.trim().to_string();
        if !(issuer.starts_with("http://") || issuer.starts_with("https://")) {
            return Err(invalid(
                "oidc.issuer",
                format!("{issuer:?} is not an http(s) URL"),
            ));
        }
        if settings.audience.trim().is_empty() {
            return Err(invalid(
                "oidc.audience",
                "set the audience tokens must be for".into(),
            ));
        }
        if let Some(url) = &settings.jwks_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "oidc.jwks_url",
                format!("{url:?} is not an http(s) URL"),
            ));
        }
        let refresh = match &settings.refresh_interval {
            Some(t) => super::parse_interval(group, "oidc.refresh_interval", t)?,
            None => DEFAULT_REFRESH,
        };
        Ok(OidcVerifier {
            group,
            issuer,
            audience: settings.audience.trim().to_string(),
            jwks_url: settings.jwks_url.clone(),
            tenant_claim: settings.tenant_claim.clone(),
            required_claims: settings.required_claims.clone(),
            refresh,
            min_refetch: MIN_REFETCH,
            client: spoor_client::http::client(),
            keys: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        })
    }

    #[cfg(test)]
    fn with_min_refetch(mut self, d: Duration) -> Self {
        self.min_refetch = d;
        self
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The keys, fetched first when there are none, they are old, or
    /// `kid` is not among them.
    async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, Failure> {
        let current = self.current();
        let stale = current
            .as_ref()
            .is_none_or(|k| k.fetched.elapsed() >= self.refresh);
        let missing = kid.is_some_and(|kid| current.as_ref().is_some_and(|k| !k.has(kid)));
        if stale || missing {
            self.refetch(current.as_ref().map(|k| k.fetched)).await;
        }
        self.current().ok_or(Failure::IssuerUnavailable)
    }

    /// Fetches the keys unless another request did since `seen` or the
    /// last attempt was too recent.
    async fn refetch(&self, seen: Option<Instant>) {
        let mut st = self.fetch.lock().await;
        let now_keys = self.current().map(|k| k.fetched);
        if now_keys != seen {
            return;
        }
        if st
            .last_attempt
            .is_some_and(|t| t.elapsed() < self.min_refetch)
        {
            return;
        }
        st.last_attempt = Some(Instant::now());
        match self.fetch_keys(&mut st).await {
            Ok(keys) => {
                tracing::info!(group = self.group, issuer = %self.issuer, keys = keys.len(), "fetched the issuer's keys");
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(KeySet {
                    keys,
                    fetched: Instant::now(),
                }));
            }
            Err(error) => {
                tracing::warn!(group = self.group, issuer = %self.issuer, %error, "cannot fetch the issuer's keys");
            }
        }
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let (status, body) = spoor_client::http::get(&self.client, url, FETCH_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("GET {url}: status {status}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
    }

    async fn fetch_keys(&self, st: &mut FetchState) -> Result<Vec<Jwk>, String> {
        let uri = match (&self.jwks_url, &st.jwks_uri) {
            (Some(u), _) | (None, Some(u)) => u.clone(),
            (None, None) => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.issuer.trim_end_matches('/')
                );
                let doc = self.get_json(&url).await?;
                let uri = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{url} has no jwks_uri"))?
                    .to_string();
                st.jwks_uri = Some(uri.clone());
                uri
            }
        };
        let jwks = self.get_json(&uri).await?;
        let keys = parse_jwks(&jwks);
        if keys.is_empty() {
            return Err(format!("{uri} has no usable signing key"));
        }
        Ok(keys)
    }

    /// Verifies `token` and returns its identity.
    pub async fn verify(&self, token: &str) -> Result<Identity, Failure> {
        self.verify_at(token, SystemTime::now()).await
    }

    async fn verify_at(&self, token: &str, now: SystemTime) -> Result<Identity, Failure> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Failure::Malformed);
        };
        let decode = |x: &str| {
            URL_SAFE_NO_PAD
                .decode(x.trim_end_matches('='))
                .map_err(|_| Failure::Malformed)
        };
        let header: Value = serde_json::from_slice(&decode(h)?).map_err(|_| Failure::Malformed)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(Failure::Malformed)?;
        let kid = header.get("kid").and_then(Value::as_str);
        if !SUPPORTED.contains(&alg) {
            return Err(Failure::BadSignature);
        }
        let signature = decode(s)?;
        let message = &token.as_bytes()[..h.len() + 1 + p.len()];
        let mut keys = self.keys_for(kid).await?;
        let candidates = |keys: &KeySet| -> Vec<Jwk> {
            keys.keys
                .iter()
                .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
                .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg))
                .cloned()
                .collect()
        };
        let mut usable = candidates(&keys);
        if usable.is_empty() && kid.is_none() {
            self.refetch(Some(keys.fetched)).await;
            keys = self.current().ok_or(Failure::IssuerUnavailable)?;
            usable = candidates(&keys);
        }
        if usable.is_empty() {
            return Err(Failure::UnknownKey);
        }
        if !usable
            .iter()
            .any(|k| verify_signature(alg, &k.key, message, &signature))
        {
            return Err(Failure::BadSignature);
        }
        let claims: serde_json::Map<String, Value> =
            serde_json::from_slice(&decode(p)?).map_err(|_| Failure::Malformed)?;
        self.check_claims(&claims, now)?;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .or_else(|| claims.get("preferred_username").and_then(Value::as_str))
            .unwrap_or("unknown")
            .to_string();
        let tenants = match &self.tenant_claim {
            None => TenantGrant::Any,
            Some(name) => TenantGrant::Only(match claims.get(name) {
                Some(Value::String(t)) => vec![t.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => Vec::new(),
            }),
        };
        Ok(Identity {
            subject,
            method: AuthMethod::Oidc,
            tenants,
        })
    }

    fn check_claims(
        &self,
        claims: &serde_json::Map<String, Value>,
        now: SystemTime,
    ) -> Result<(), Failure> {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let leeway = LEEWAY.as_secs_f64();
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or(Failure::MissingClaim)?;
        if now > exp + leeway {
            return Err(Failure::Expired);
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64)
            && now + leeway < nbf
        {
            return Err(Failure::Expired);
        }
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
        if iss.trim_end_matches('/') != self.issuer.trim_end_matches('/') {
            return Err(Failure::WrongIssuer);
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == self.audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => false,
        };
        if !aud_ok {
            return Err(Failure::WrongAudience);
        }
        for (name, want) in &self.required_claims {
            let ok = match claims.get(name) {
                Some(Value::Array(list)) => list.contains(want),
                Some(v) => v == want,
                None => false,
            };
            if !ok {
                return Err(Failure::MissingClaim);
            }
        }
        Ok(())
    }
}

const SUPPORTED: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

fn parse_jwks(jwks: &Value) -> Vec<Jwk> {
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
        return Vec::new();
    };
    let b64 = |k: &Value, f: &str| {
        k.get(f)
            .and_then(Value::as_str)
            .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
    };
    let mut out = Vec::new();
    for k in keys {
        if k.get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            continue;
        }
        let s = |f: &str| k.get(f).and_then(Value::as_str);
        let key = match (s("kty"), s("crv")) {
            (Some("RSA"), _) => match (b64(k, "n"), b64(k, "e")) {
                (Some(n), Some(e)) => {
                    let strip = |v: Vec<u8>| {
                        let z = v.iter().take_while(|b| **b == 0).count();
                        v[z..].to_vec()
                    };
                    KeyMaterial::Rsa {
                        n: strip(n),
                        e: strip(e),
                    }
                }
                _ => continue,
            },
            (Some("EC"), Some(crv @ ("P-256" | "P-384"))) => match (b64(k, "x"), b64(k, "y")) {
                (Some(x), Some(y)) => {
                    let mut point = vec![4u8];
                    point.extend_from_slice(&x);
                    point.extend_from_slice(&y);
                    if crv == "P-256" {
                        KeyMaterial::P256(point)
                    } else {
                        KeyMaterial::P384(point)
                    }
                }
                _ => continue,
            },
            (Some("OKP"), Some("Ed25519")) => match b64(k, "x") {
                Some(x) => KeyMaterial::Ed25519(x),
                None => continue,
            },
            _ => continue,
        };
        out.push(Jwk {
            kid: s("kid").map(str::to_string),
            alg: s("alg").map(str::to_string),
            key,
        });
    }
    out
}

fn verify_signature(alg: &str, key: &KeyMaterial, message: &[u8], signature: &[u8]) -> bool {
    use ring::signature as sig;
    let rsa = |params: &'static sig::RsaParameters, n: &[u8], e: &[u8]| {
        sig::RsaPublicKeyComponents { n, e }
            .verify(params, message, signature)
            .is_ok()
    };
    let unparsed = |params: &'static dyn sig::VerificationAlgorithm, k: &[u8]| {
        sig::UnparsedPublicKey::new(params, k)
            .verify(message, signature)
            .is_ok()
    };
    match (alg, key) {
        ("RS256", KeyMaterial::Rsa { n, e }) => rsa(&sig::RSA_PKCS1_2048_8192_SHA256, n, e),
        ("RS384", KeyMaterial::Rsa { n, e }) => rsa(&sig::RSA_PKCS1_2048_8192_SHA384, n, e),
        ("RS512", KeyMaterial::Rsa { n, e }) => rsa(&sig::RSA_PKCS1_2048_8192_SHA512, n, e),
        ("PS256", KeyMaterial::Rsa { n, e }) => rsa(&sig::RSA_PSS_2048_8192_SHA256, n, e),
        ("PS384", KeyMaterial::Rsa { n, e }) => rsa(&sig::RSA_PSS_2048_8192_SHA384, n, e),
        ("PS512", KeyMaterial::Rsa { n, e }) => rsa(&sig::RSA_PSS_2048_8192_SHA512, n, e),
        ("ES256", KeyMaterial::P256(k)) => unparsed(&sig::ECDSA_P256_SHA256_FIXED, k),
        ("ES384", KeyMaterial::P384(k)) => unparsed(&sig::ECDSA_P384_SHA384_FIXED, k),
        ("EdDSA", KeyMaterial::Ed25519(k)) => unparsed(&sig::ED25519, k),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An ES256 signing key with its JWK.
    pub struct TestKey {
        pair: EcdsaKeyPair,
        pub kid: String,
    }

    impl TestKey {
        pub fn new(kid: &str) -> Self {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .unwrap();
            TestKey {
                pair,
                kid: kid.into(),
            }
        }

        pub fn jwk(&self) -> Value {
            let p = self.pair.public_key().as_ref();
            serde_json::json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256",
                "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])})
        }

        pub fn sign(&self, claims: &Value) -> String {
            let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let sig = self
                .pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }
    }

    /// An issuer serving discovery and a JWKS that tests can change.
    pub struct TestIssuer {
        pub url: String,
        pub jwks: Arc<Mutex<Value>>,
        pub fetches: Arc<AtomicUsize>,
    }

    impl TestIssuer {
        pub async fn start(keys: &[&TestKey]) -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let jwks = Arc::new(Mutex::new(serde_json::json!({
                "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()
            })));
            let fetches = Arc::new(AtomicUsize::new(0));
            let discovery =
                serde_json::json!({"issuer": url, "jwks_uri": format!("{url}/jwks")}).to_string();
            let (j, f) = (jwks.clone(), fetches.clone());
            let app = axum::Router::new()
                .route(
                    "/.well-known/openid-configuration",
                    axum::routing::get(move || async move { discovery }),
                )
                .route(
                    "/jwks",
                    axum::routing::get(move || {
                        f.fetch_add(1, Ordering::SeqCst);
                        let body = j.lock().unwrap().to_string();
                        async move { body }
                    }),
                );
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            TestIssuer { url, jwks, fetches }
        }

        pub fn claims(&self, aud: &str, exp_in: i64) -> Value {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            serde_json::json!({"iss": self.url, "aud": aud, "sub": "user-1", "exp": now + exp_in, "iat": now})
        }
    }

    fn settings(issuer: &TestIssuer) -> OidcSettings {
        OidcSettings {
            issuer: issuer.url.clone(),
            audience: "spoor".into(),
            tenant_claim: Some("tenants".into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn good_bad_expired_and_wrong_audience_tokens() {
        let key = TestKey::new("k1");
        let issuer = TestIssuer::start(&[&key]).await;
        let v = OidcVerifier::new("query", &settings(&issuer)).unwrap();

        let mut claims = issuer.claims("spoor", 300);
        claims["tenants"] = serde_json::json!(["a", "b"]);
        let id = v.verify(&key.sign(&claims)).await.unwrap();
        assert_eq!(id.subject, "user-1");
        assert_eq!(id.method, AuthMethod::Oidc);
        assert_eq!(id.tenants, TenantGrant::Only(vec!["a".into(), "b".into()]));
        // Discovery, then the keys, once.
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);

        let expired = key.sign(&issuer.claims("spoor", -3600));
        assert_eq!(v.verify(&expired).await.unwrap_err(), Failure::Expired);
        // Within the leeway is still good.
        assert!(
            v.verify(&key.sign(&issuer.claims("spoor", -10)))
                .await
                .is_ok()
        );
        let other_aud = key.sign(&issuer.claims("someone-else", 300));
        assert_eq!(
            v.verify(&other_aud).await.unwrap_err(),
            Failure::WrongAudience
        );
        let mut other_iss = issuer.claims("spoor", 300);
        other_iss["iss"] = "http://evil.example".into();
        assert_eq!(
            v.verify(&key.sign(&other_iss)).await.unwrap_err(),
            Failure::WrongIssuer
        );

        // Tampered payload: the signature no longer matches.
        let good = key.sign(&issuer.claims("spoor", 300));
        let mut parts: Vec<&str> = good.split('.').collect();
        let mut forged = issuer.claims("spoor", 300);
        forged["sub"] = "admin".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(forged.to_string());
        parts[1] = &forged_payload;
        assert_eq!(
            v.verify(&parts.join(".")).await.unwrap_err(),
            Failure::BadSignature
        );

        // A key of the same ID but another key pair.
        let impostor = TestKey::new("k1");
        assert_eq!(
            v.verify(&impostor.sign(&issuer.claims("spoor", 300)))
                .await
                .unwrap_err(),
            Failure::BadSignature
        );
        // alg none is refused.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(issuer.claims("spoor", 300).to_string())
        );
        assert!(v.verify(&none).await.is_err());
        assert_eq!(v.verify("a.b").await.unwrap_err(), Failure::Malformed);
    }

    #[tokio::test]
    async fn required_claims_are_checked() {
        let key = TestKey::new("k1");
        let issuer = TestIssuer::start(&[&key]).await;
        let mut s = settings(&issuer);
        s.required_claims.insert("groups".into(), "tracing".into());
        let v = OidcVerifier::new("query", &s).unwrap();
        let mut claims = issuer.claims("spoor", 300);
        assert_eq!(
            v.verify(&key.sign(&claims)).await.unwrap_err(),
            Failure::MissingClaim
        );
        claims["groups"] = serde_json::json!(["dev", "tracing"]);
        let id = v.verify(&key.sign(&claims)).await.unwrap();
        // The tenant claim is absent: no tenant is granted.
        assert_eq!(id.tenants, TenantGrant::Only(vec![]));
    }

    #[tokio::test]
    async fn an_unknown_kid_refreshes_the_keys_rate_limited() {
        let old = TestKey::new("old");
        let issuer = TestIssuer::start(&[&old]).await;
        let v = OidcVerifier::new("ingest", &settings(&issuer)).unwrap();
        assert!(
            v.verify(&old.sign(&issuer.claims("spoor", 300)))
                .await
                .is_ok()
        );
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);

        // The issuer rotates its key: within MIN_REFETCH the new key is not
        // fetched (an attacker cannot make us hammer the issuer)…
        let new = TestKey::new("new");
        *issuer.jwks.lock().unwrap() = serde_json::json!({"keys": [new.jwk()]});
        let token = new.sign(&issuer.claims("spoor", 300));
        assert_eq!(v.verify(&token).await.unwrap_err(), Failure::UnknownKey);
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);

        // …after it, the unknown kid triggers one refetch and is accepted.
        let v = v.with_min_refetch(Duration::ZERO);
        assert!(v.verify(&token).await.is_ok());
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
        assert!(v.verify(&token).await.is_ok());
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unreachable_issuer_is_reported_as_unavailable() {
        let s = OidcSettings {
            issuer: "http://127.0.0.1:9".into(),
            audience: "spoor".into(),
            ..Default::default()
        };
        let v = OidcVerifier::new("query", &s).unwrap();
        let key = TestKey::new("k");
        let token = key.sign(&serde_json::json!({"iss": "http://127.0.0.1:9", "aud": "spoor", "exp": 4_000_000_000u64}));
        assert_eq!(
            v.verify(&token).await.unwrap_err(),
            Failure::IssuerUnavailable
        );
    }

    #[test]
    fn eddsa_and_rsa_keys_are_read_from_a_jwks() {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwks = serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())},
            {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "oct", "k": "c2VjcmV0"}
        ]});
        let keys = parse_jwks(&jwks);
        assert_eq!(keys.len(), 2);
        let msg = b"header.payload";
        let sig = pair.sign(msg);
        assert!(verify_signature("EdDSA", &keys[0].key, msg, sig.as_ref()));
        assert!(!verify_signature(
            "EdDSA",
            &keys[0].key,
            b"other",
            sig.as_ref()
        ));
        // An algorithm never verifies with a key of another type.
        assert!(!verify_signature("ES256", &keys[0].key, msg, sig.as_ref()));
        assert!(!verify_signature("HS256", &keys[1].key, msg, sig.as_ref()));
    }

    #[test]
    fn settings_are_checked() {
        let bad = OidcSettings {
            issuer: "issuer".into(),
            audience: "a".into(),
            ..Default::default()
        };
        assert!(OidcVerifier::new("query", &bad).is_err());
        let no_aud = OidcSettings {
            issuer: "http://i".into(),
            ..Default::default()
        };
        assert!(OidcVerifier::new("query", &no_aud).is_err());
    }
}
