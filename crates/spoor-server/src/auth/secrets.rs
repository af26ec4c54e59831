//! Credentials from files: static tokens (kept as SHA-256 digests, compared
//! in constant time) and htpasswd bcrypt entries. Both files are re-read
//! when they change (checked at most once a second, on use); a file that
//! became unreadable or invalid keeps the previous contents and is logged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::{AuthError, AuthMethod, Failure, Identity, TenantGrant};

/// How often a file's modification time is looked at.
const RELOAD_CHECK: Duration = Duration::from_secs(1);
/// How long a successful bcrypt verification is remembered.
const BCRYPT_CACHE_TTL: Duration = Duration::from_secs(60);
/// Most remembered verifications.
const BCRYPT_CACHE_MAX: usize = 4096;
/// Most bcrypt verifications running at once (each costs ~100 ms of CPU).
const BCRYPT_CONCURRENCY: usize = 2;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Equality of two digests in time independent of where they differ.
pub fn digest_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// What identifies a version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

/// A file parsed into `T`, re-read when its stamp changes.
#[derive(Debug)]
struct Watched<T> {
    group: &'static str,
    what: &'static str,
    path: PathBuf,
    parse: fn(&str) -> Result<T, String>,
    state: Mutex<WatchedState<T>>,
}

#[derive(Debug)]
struct WatchedState<T> {
    value: Arc<T>,
    stamp: Option<Stamp>,
    checked: Instant,
    generation: u64,
}

impl<T> Watched<T> {
    fn load(
        group: &'static str,
        what: &'static str,
        path: &Path,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Self, AuthError> {
        let err = |message: String| AuthError::File {
            group,
            what,
            path: path.display().to_string(),
            message,
        };
        let stamp = stamp(path);
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let value = parse(&text).map_err(err)?;
        Ok(Watched {
            group,
            what,
            path: path.to_path_buf(),
            parse,
            state: Mutex::new(WatchedState {
                value: Arc::new(value),
                stamp,
                checked: Instant::now(),
                generation: 0,
            }),
        })
    }

    /// The current contents and their generation, re-read first if the file
    /// changed.
    fn current(&self) -> (Arc<T>, u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.checked.elapsed() >= RELOAD_CHECK {
            st.checked = Instant::now();
            let now = stamp(&self.path);
            if now != st.stamp {
                st.stamp = now;
                match std::fs::read_to_string(&self.path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| (self.parse)(&t))
                {
                    Ok(v) => {
                        st.value = Arc::new(v);
                        st.generation += 1;
                        tracing::info!(group = self.group, file = %self.path.display(), what = self.what, "reloaded");
                    }
                    Err(error) => tracing::warn!(
                        group = self.group,
                        file = %self.path.display(),
                        what = self.what,
                        %error,
                        "cannot reload; keeping the previous contents"
                    ),
                }
            }
        }
        (st.value.clone(), st.generation)
    }
}

/// One line of a tokens file.
#[derive(Debug)]
struct TokenEntry {
    digest: [u8; 32],
    name: String,
    tenants: TenantGrant,
}

/// Parses a tokens file: `<token> <name> [<tenant>,<tenant>|*]` per line,
/// `#` comments and blank lines ignored.
fn parse_tokens(text: &str) -> Result<Vec<TokenEntry>, String> {
    let mut out: Vec<TokenEntry> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(token), Some(name)) = (parts.next(), parts.next()) else {
            return Err(format!(
                "line {}: expected `<token> <name> [<tenants>]`",
                i + 1
            ));
        };
        let tenants = match parts.next() {
            None | Some("*") => TenantGrant::Any,
            Some(list) => TenantGrant::Only(
                list.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
        };
        if parts.next().is_some() {
            return Err(format!(
                "line {}: too many fields (tenants are separated by commas, without spaces)",
                i + 1
            ));
        }
        let digest = sha256(token.as_bytes());
        if out.iter().any(|e| digest_eq(&e.digest, &digest)) {
            return Err(format!("line {}: the same token is listed twice", i + 1));
        }
        out.push(TokenEntry {
            digest,
            name: name.to_string(),
            tenants,
        });
    }
    Ok(out)
}

/// Static bearer tokens / API keys of a tokens file.
#[derive(Debug)]
pub struct TokenFile {
    file: Watched<Vec<TokenEntry>>,
}

impl TokenFile {
    /// Reads `path`.
    pub fn load(group: &'static str, path: &Path) -> Result<Self, AuthError> {
        Ok(TokenFile {
            file: Watched::load(group, "tokens_file", path, parse_tokens)?,
        })
    }

    /// The identity of `token`, if it is one of the file's.
    pub fn identify(&self, token: &str) -> Option<Identity> {
        let digest = sha256(token.as_bytes());
        let (entries, _) = self.file.current();
        // Every entry is compared, so the time does not tell which matched.
        let mut found = None;
        for e in entries.iter() {
            if digest_eq(&e.digest, &digest) && found.is_none() {
                found = Some(e);
            }
        }
        found.map(|e| Identity {
            subject: e.name.clone(),
            method: AuthMethod::Token,
            tenants: e.tenants.clone(),
        })
    }
}

/// Parses an htpasswd file: `user:hash` lines of bcrypt hashes.
fn parse_htpasswd(text: &str) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err(format!("line {}: expected `user:hash`", i + 1));
        };
        if !["$2y$", "$2b$", "$2a$", "$2x$"]
            .iter()
            .any(|p| hash.starts_with(p))
        {
            return Err(format!(
                "line {}: user {user:?}: only bcrypt entries are supported (htpasswd -B)",
                i + 1
            ));
        }
        if out.insert(user.to_string(), hash.to_string()).is_some() {
            return Err(format!("line {}: user {user:?} is listed twice", i + 1));
        }
    }
    Ok(out)
}

/// HTTP basic users of an htpasswd file, with recent successful
/// verifications remembered (keyed by a SHA-256 of the credentials).
#[derive(Debug)]
pub struct Htpasswd {
    file: Watched<HashMap<String, String>>,
    /// Digest of `user:password` → (generation of the file, until when).
    cache: Mutex<HashMap<[u8; 32], (u64, Instant)>>,
    cpu: tokio::sync::Semaphore,
}

impl Htpasswd {
    /// Reads `path`.
    pub fn load(group: &'static str, path: &Path) -> Result<Self, AuthError> {
        Ok(Htpasswd {
            file: Watched::load(group, "htpasswd_file", path, parse_htpasswd)?,
            cache: Mutex::new(HashMap::new()),
            cpu: tokio::sync::Semaphore::new(BCRYPT_CONCURRENCY),
        })
    }

    /// Checks `user`'s `password`.
    pub async fn verify(&self, user: &str, password: &str) -> Result<Identity, Failure> {
        let (users, generation) = self.file.current();
        let key = {
            let mut material = Vec::with_capacity(user.len() + password.len() + 1);
            material.extend_from_slice(user.as_bytes());
            material.push(0);
            material.extend_from_slice(password.as_bytes());
            sha256(&material)
        };
        let identity = || Identity {
            subject: user.to_string(),
            method: AuthMethod::Basic,
            tenants: TenantGrant::Any,
        };
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((g, until)) = cache.get(&key)
                && *g == generation
                && *until > Instant::now()
                && users.contains_key(user)
            {
                return Ok(identity());
            }
        }
        // An unknown user costs the same bcrypt run as a known one.
        let (hash, known) = match users.get(user) {
            Some(h) => (h.clone(), true),
            None => match users.values().next() {
                Some(h) => (h.clone(), false),
                None => return Err(Failure::BadPassword),
            },
        };
        let _permit = self.cpu.acquire().await.map_err(|_| Failure::BadPassword)?;
        let password = password.to_string();
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if !(ok && known) {
            return Err(Failure::BadPassword);
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= BCRYPT_CACHE_MAX {
            let now = Instant::now();
            cache.retain(|_, (g, until)| *g == generation && *until > now);
            if cache.len() >= BCRYPT_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(key, (generation, Instant::now() + BCRYPT_CACHE_TTL));
        Ok(identity())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file_lines_are_parsed() {
        let e = parse_tokens("# comment\n\nabc svc-a\ndef svc-b t1,t2\nghi svc-c *\n").unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].tenants, TenantGrant::Any);
        assert_eq!(
            e[1].tenants,
            TenantGrant::Only(vec!["t1".into(), "t2".into()])
        );
        assert_eq!(e[2].name, "svc-c");
        assert!(parse_tokens("lonely\n").is_err());
        assert!(parse_tokens("a x\na y\n").is_err());
        assert!(parse_tokens("a x t1, t2\n").is_err());
    }

    #[test]
    fn tokens_are_found_by_digest_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, "s3cret-one ingest-a tenant-a\n").unwrap();
        let file = TokenFile::load("ingest", &path).unwrap();
        let id = file.identify("s3cret-one").unwrap();
        assert_eq!(id.subject, "ingest-a");
        assert_eq!(id.method, AuthMethod::Token);
        assert_eq!(id.tenants, TenantGrant::Only(vec!["tenant-a".into()]));
        assert!(file.identify("s3cret-two").is_none());
        assert!(file.identify("").is_none());
        // Secrets are not kept in clear.
        assert!(!format!("{file:?}").contains("s3cret"));

        std::fs::write(&path, "s3cret-two ingest-b\n# longer now\n").unwrap();
        file.file.state.lock().unwrap().checked -= RELOAD_CHECK;
        assert!(file.identify("s3cret-one").is_none());
        assert_eq!(file.identify("s3cret-two").unwrap().subject, "ingest-b");

        // A broken file keeps the previous tokens.
        std::fs::write(&path, "only-one-field-on-this-long-line\n").unwrap();
        file.file.state.lock().unwrap().checked -= RELOAD_CHECK;
        assert_eq!(file.identify("s3cret-two").unwrap().subject, "ingest-b");
    }

    #[test]
    fn a_missing_or_bad_file_is_a_clear_error() {
        let err = TokenFile::load("query", Path::new("/nonexistent/tokens")).unwrap_err();
        assert!(
            err.to_string()
                .contains("security.auth.query.tokens_file /nonexistent/tokens"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, "alice:$apr1$abc$def\n").unwrap();
        let err = Htpasswd::load("ingest", &path).unwrap_err();
        assert!(err.to_string().contains("only bcrypt"), "{err}");
    }

    #[tokio::test]
    async fn htpasswd_bcrypt_entries_verify_and_are_cached() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        let hash = bcrypt::hash("correct horse", 6)
            .unwrap()
            .replacen("$2b$", "$2y$", 1);
        std::fs::write(&path, format!("alice:{hash}\n")).unwrap();
        let h = Htpasswd::load("query", &path).unwrap();
        let id = h.verify("alice", "correct horse").await.unwrap();
        assert_eq!(id.subject, "alice");
        assert_eq!(id.method, AuthMethod::Basic);
        assert_eq!(h.cache.lock().unwrap().len(), 1);
        // Cached: answered at once.
        let t = Instant::now();
        h.verify("alice", "correct horse").await.unwrap();
        assert!(t.elapsed() < Duration::from_millis(5));
        assert_eq!(
            h.verify("alice", "wrong").await.unwrap_err(),
            Failure::BadPassword
        );
        assert_eq!(
            h.verify("bob", "correct horse").await.unwrap_err(),
            Failure::BadPassword
        );
        assert_eq!(h.cache.lock().unwrap().len(), 1);
    }
}
