//! The docker helper's token cache: `<cache dir>/cache.json`, one entry per ACR token (docker
//! runs `get` for every pull and remembers nothing, so without it every pull is an ACR call).
//!
//! - Location: `--cache-dir`, else `$ACR_CREDENTIAL_HELPER_CACHE_DIR`, else
//!   `$XDG_CACHE_HOME/acr-credential-helper`, else `~/.cache/acr-credential-helper`.
//! - The file holds registry passwords (as docker's own `config.json` does): the directory is
//!   created 0700, the file written 0600; a file readable by group or others is ignored (and
//!   replaced by the next fetch).
//! - Entries are keyed like the refresher's token cache (edition, region, instance) plus the ACR
//!   endpoint and a digest of where credentials come from (endpoint template, metadata endpoint
//!   and role, CA bundle contents): a token minted by another ACR is never offered. An
//!   Enterprise Edition entry also records the instance name, so a hit needs no `ListInstance`.
//! - Writes replace the whole file atomically (temporary file + rename): concurrent `get`s never
//!   leave it torn; the last writer wins, and a lost entry only costs one more fetch.
//! - A missing, unreadable or corrupt file is never fatal: the caller notes it and fetches.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::acr::{RegistryToken, TokenKey, edition_name};
use crate::cloud_args::CloudArgs;
use crate::registry_domain::RegistryDomain;

/// The environment variable naming the cache directory (below `--cache-dir`).
pub const CACHE_DIR_ENV: &str = "ACR_CREDENTIAL_HELPER_CACHE_DIR";
/// The directory name under `$XDG_CACHE_HOME` (or `~/.cache`).
pub const DIR_NAME: &str = "acr-credential-helper";
/// The cache file's name in the cache directory.
pub const FILE_NAME: &str = "cache.json";
/// The layout version this code reads and writes.
pub const VERSION: u32 = 1;

/// The default cache directory from `$XDG_CACHE_HOME` (when absolute, as the XDG spec says) or
/// `$HOME`; `None` when neither helps.
pub fn default_dir(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let xdg = xdg_cache_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    match xdg {
        Some(base) => Some(base.join(DIR_NAME)),
        None => home
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|home| home.join(".cache").join(DIR_NAME)),
    }
}

/// A short digest of where tokens come from: the ACR endpoint template, the metadata endpoint
/// and role, the `--resolve` routes and the CA bundle's contents.
pub fn source_digest(cloud: &CloudArgs) -> String {
    let mut hash = Sha256::new();
    let mut part = |name: &str, value: &[u8]| {
        hash.update(name.as_bytes());
        hash.update(b"=");
        hash.update(value);
        hash.update(b"\n");
    };
    part("endpoint-template", cloud.endpoint_template.as_bytes());
    part("metadata-endpoint", cloud.metadata_endpoint.as_bytes());
    part(
        "metadata-role",
        cloud.metadata_role.as_deref().unwrap_or("").as_bytes(),
    );
    for (host, address) in &cloud.resolve {
        part("resolve", format!("{host}={}", address.ip()).as_bytes());
    }
    if let Some(ca) = &cloud.ca_file {
        // A new test CA means a new ACR; an unreadable one fails the fetch anyway.
        let contents = fs::read(ca).unwrap_or_default();
        part("ca", &Sha256::digest(contents));
    }
    hex::encode(&hash.finalize()[..8])
}

/// Which cached token a registry host needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenQuery {
    /// [`source_digest`] of the flags in use.
    pub source: String,
    /// The ACR endpoint of the host's region.
    pub endpoint: String,
    /// `personal` or `enterprise`.
    pub edition: String,
    /// The host's region.
    pub region: String,
    /// The Enterprise Edition instance name of the host; `None` for Personal Edition.
    pub instance_name: Option<String>,
}

impl TokenQuery {
    /// The query for `domain` under the flags `cloud`.
    pub fn new(cloud: &CloudArgs, domain: &RegistryDomain) -> Self {
        Self {
            source: source_digest(cloud),
            endpoint: cloud.endpoint_template.replace("{region}", &domain.region),
            edition: edition_name(domain.edition).to_owned(),
            region: domain.region.clone(),
            instance_name: domain.instance_name.clone(),
        }
    }
}

/// One cached token.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CachedToken {
    /// [`source_digest`] of the flags it was fetched with.
    pub source: String,
    /// The ACR endpoint that issued it.
    pub endpoint: String,
    /// `personal` or `enterprise`.
    pub edition: String,
    /// The region that issued it.
    pub region: String,
    /// The Enterprise Edition instance id (`cri-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The Enterprise Edition instance name the host used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    /// Registry user name.
    pub username: String,
    /// Registry password (secret).
    pub password: String,
    /// When ACR stops accepting it.
    pub expires_at: DateTime<Utc>,
    /// When it was fetched.
    pub fetched_at: DateTime<Utc>,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("endpoint", &self.endpoint)
            .field("edition", &self.edition)
            .field("region", &self.region)
            .field("instance_id", &self.instance_id)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("fetched_at", &self.fetched_at)
            .finish()
    }
}

impl CachedToken {
    /// The entry for `token` of `key`, fetched at `fetched_at` for `query`.
    pub fn new(
        query: &TokenQuery,
        key: &TokenKey,
        token: RegistryToken,
        fetched_at: DateTime<Utc>,
    ) -> Self {
        Self {
            source: query.source.clone(),
            endpoint: query.endpoint.clone(),
            edition: edition_name(key.edition).to_owned(),
            region: key.region.clone(),
            instance_id: key.instance_id.clone(),
            instance_name: query.instance_name.clone(),
            username: token.username,
            password: token.password,
            expires_at: token.expires_at,
            fetched_at,
        }
    }

    /// Does this entry hold the token `query` asks for?
    pub fn answers(&self, query: &TokenQuery) -> bool {
        self.source == query.source
            && self.endpoint == query.endpoint
            && self.edition == query.edition
            && self.region == query.region
            && self.instance_name == query.instance_name
    }

    /// Is this the same token (source, endpoint, edition, region, instance id) as `other`?
    fn same_token(&self, other: &CachedToken) -> bool {
        self.source == other.source
            && self.endpoint == other.endpoint
            && self.edition == other.edition
            && self.region == other.region
            && self.instance_id == other.instance_id
    }

    /// Has ACR stopped accepting it at `now`?
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }

    /// May `get` answer with it at `now` instead of fetching: while more than `threshold` of
    /// its lifetime is left, or, inside the threshold, while it is unexpired and was fetched less
    /// than `min_renewal_interval` ago (so a threshold >= the lifetime is no hot loop).
    pub fn serves(
        &self,
        now: DateTime<Utc>,
        threshold: Duration,
        min_renewal_interval: Duration,
    ) -> bool {
        if self.expired(now) {
            return false;
        }
        let left = (self.expires_at - now).to_std().unwrap_or_default();
        let age = (now - self.fetched_at).to_std().unwrap_or_default();
        left > threshold || age < min_renewal_interval
    }
}

/// The file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheContents {
    /// Layout version ([`VERSION`]).
    pub version: u32,
    /// The cached tokens.
    #[serde(default)]
    pub tokens: Vec<CachedToken>,
}

impl CacheContents {
    /// The entry answering `query`, if any.
    pub fn find(&self, query: &TokenQuery) -> Option<&CachedToken> {
        self.tokens.iter().find(|t| t.answers(query))
    }

    /// Puts `entry` in place of any entry for the same token or query, and drops tokens expired
    /// at `now`.
    pub fn upsert(&mut self, entry: CachedToken, now: DateTime<Utc>, query: &TokenQuery) {
        self.tokens
            .retain(|t| !t.expired(now) && !t.same_token(&entry) && !t.answers(query));
        self.tokens.push(entry);
    }
}

/// Why the cache file could not be used; never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file is readable or writable by group or others.
    #[error(
        "cache file {path} is accessible by others (mode {mode:04o}): ignored, a new token is \
         fetched (it holds registry passwords: the file is replaced with a 0600 one)"
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file exists but could not be read.
    #[error("cannot read cache file {path}: {source}; a new token is fetched")]
    Read {
        /// The file.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
    /// The file is not a token cache this version reads.
    #[error("cache file {path} is not a token cache ({reason}): ignored, it is rewritten")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong (position only: the file's text may hold passwords).
        reason: String,
    },
    /// The cache directory could not be created.
    #[error("cannot create cache directory {path}: {source}; the token is not cached")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write cache file {path}: {source}; the token is not cached")]
    Write {
        /// The file.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
}

/// The cache file of one directory.
#[derive(Debug, Clone)]
pub struct TokenFile {
    dir: PathBuf,
}

impl TokenFile {
    /// The cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `<dir>/cache.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The cached tokens; empty when there is no file yet.
    pub fn load(&self) -> Result<CacheContents, CacheError> {
        let path = self.path();
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CacheContents::default());
            }
            Err(source) => return Err(CacheError::Read { path, source }),
        };
        let metadata = file.metadata().map_err(|source| CacheError::Read {
            path: path.clone(),
            source,
        })?;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(CacheError::Exposed { path, mode });
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|source| CacheError::Read {
                path: path.clone(),
                source,
            })?;
        parse(&text).map_err(|reason| CacheError::Corrupt { path, reason })
    }

    /// Writes `entry` into the file (keeping other unexpired entries), atomically.
    pub fn store(
        &self,
        entry: CachedToken,
        query: &TokenQuery,
        now: DateTime<Utc>,
    ) -> Result<(), CacheError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| CacheError::Dir {
                path: self.dir.clone(),
                source,
            })?;
        // Whatever could not be read is replaced: the caller has already noted why.
        let mut contents = self.load().unwrap_or_default();
        contents.version = VERSION;
        contents.upsert(entry, now, query);
        let path = self.path();
        let write_error = |source| CacheError::Write {
            path: path.clone(),
            source,
        };
        let text = serde_json::to_vec_pretty(&contents)
            .map_err(|e| write_error(std::io::Error::other(e.to_string())))?;
        let temporary = self.dir.join(format!(
            ".{FILE_NAME}.{}.{}.tmp",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let written =
            write_new_private(&temporary, &text).and_then(|()| fs::rename(&temporary, &path));
        if let Err(source) = written {
            let _ = fs::remove_file(&temporary);
            return Err(write_error(source));
        }
        Ok(())
    }
}

/// Creates `path` (never following or reusing an existing file) with mode 0600 and `bytes`.
fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Reads the file's text; the error names the position only (the text may hold passwords).
pub fn parse(text: &str) -> Result<CacheContents, String> {
    let contents: CacheContents = serde_json::from_str(text).map_err(|e| {
        format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    if contents.version != VERSION {
        return Err(format!(
            "layout version {} is not {VERSION}",
            contents.version
        ));
    }
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(instance_name: Option<&str>) -> TokenQuery {
        TokenQuery {
            source: "abc".into(),
            endpoint: "https://cr.cn-hangzhou.aliyuncs.com".into(),
            edition: if instance_name.is_some() {
                "enterprise"
            } else {
                "personal"
            }
            .into(),
            region: "cn-hangzhou".into(),
            instance_name: instance_name.map(str::to_owned),
        }
    }

    fn entry(q: &TokenQuery, fetched: DateTime<Utc>, lifetime_secs: i64) -> CachedToken {
        let key = match &q.instance_name {
            Some(_) => TokenKey::enterprise(q.region.clone(), "cri-1"),
            None => TokenKey::personal(q.region.clone()),
        };
        let token = RegistryToken {
            username: "cr_temp_user".into(),
            password: "very-secret-password".into(),
            expires_at: fetched + chrono::Duration::seconds(lifetime_secs),
        };
        CachedToken::new(q, &key, token, fetched)
    }

    #[test]
    fn a_token_serves_outside_the_threshold_and_inside_it_only_until_the_renewal_floor() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::milliseconds(s);
        let token = entry(&query(None), t0, 20);
        let (threshold, floor) = (Duration::from_secs(8), Duration::from_secs(2));
        assert!(token.serves(at(11_900), threshold, floor));
        assert!(!token.serves(at(12_100), threshold, floor));
        // Threshold >= lifetime: only the floor keeps it.
        let threshold = Duration::from_secs(30);
        assert!(token.serves(at(1_900), threshold, floor));
        assert!(!token.serves(at(2_100), threshold, floor));
        // The floor never serves an expired token.
        let long_floor = Duration::from_secs(60);
        assert!(token.serves(at(19_900), threshold, long_floor));
        assert!(!token.serves(at(20_000), threshold, long_floor));
    }

    #[test]
    fn entries_answer_only_their_own_source_endpoint_edition_and_instance() {
        let now = Utc::now();
        let personal = query(None);
        let enterprise = query(Some("demo-hz"));
        let mut contents = CacheContents::default();
        contents.upsert(entry(&personal, now, 60), now, &personal);
        contents.upsert(entry(&enterprise, now, 60), now, &enterprise);
        assert_eq!(contents.tokens.len(), 2);
        assert_eq!(
            contents.find(&enterprise).unwrap().instance_id.as_deref(),
            Some("cri-1")
        );
        assert!(contents.find(&personal).unwrap().instance_id.is_none());
        for other in [
            TokenQuery {
                source: "def".into(),
                ..personal.clone()
            },
            TokenQuery {
                endpoint: "https://cr.cn-hangzhou.aliyuncs.com:8443".into(),
                ..personal.clone()
            },
            TokenQuery {
                region: "cn-beijing".into(),
                ..personal.clone()
            },
            query(Some("other")),
        ] {
            assert!(contents.find(&other).is_none(), "{other:?}");
        }
        // A newer token replaces the old one; expired entries go.
        let later = now + chrono::Duration::seconds(61);
        contents.upsert(entry(&personal, later, 60), later, &personal);
        assert_eq!(contents.tokens.len(), 1);
        assert_eq!(contents.tokens[0].fetched_at, later);
    }

    #[test]
    fn the_file_round_trips_and_corrupt_text_names_no_content() {
        let now = Utc::now();
        let q = query(None);
        let mut contents = CacheContents {
            version: VERSION,
            tokens: Vec::new(),
        };
        contents.upsert(entry(&q, now, 60), now, &q);
        let text = serde_json::to_string(&contents).unwrap();
        assert_eq!(parse(&text).unwrap(), contents);
        let broken = text.replace("\"version\":1", "\"version\":\"very-secret-password\"");
        let reason = parse(&broken).unwrap_err();
        assert!(!reason.contains("very-secret-password"), "{reason}");
        assert!(parse("{").is_err());
        assert!(
            parse(r#"{"version":2,"tokens":[]}"#)
                .unwrap_err()
                .contains("version 2")
        );
        assert!(!format!("{:?}", contents.tokens[0]).contains("very-secret-password"));
    }

    #[test]
    fn the_default_directory_follows_xdg_then_home() {
        let dir =
            |x: Option<&str>, h: Option<&str>| default_dir(x.map(Into::into), h.map(Into::into));
        assert_eq!(
            dir(Some("/x"), Some("/h")),
            Some(PathBuf::from("/x/acr-credential-helper"))
        );
        assert_eq!(
            dir(Some("relative"), Some("/h")),
            Some(PathBuf::from("/h/.cache/acr-credential-helper"))
        );
        assert_eq!(dir(None, None), None);
    }

    #[test]
    fn store_creates_a_private_directory_and_file_and_refuses_exposed_files() {
        let base = tempfile::tempdir().unwrap();
        let cache = TokenFile::new(base.path().join("a/b"));
        let q = query(None);
        let now = Utc::now();
        assert_eq!(cache.load().unwrap(), CacheContents::default());
        cache.store(entry(&q, now, 60), &q, now).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&base.path().join("a/b")), 0o700);
        assert_eq!(mode(&cache.path()), 0o600);
        assert!(cache.load().unwrap().find(&q).is_some());
        fs::set_permissions(cache.path(), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            cache.load(),
            Err(CacheError::Exposed { mode: 0o644, .. })
        ));
        cache.store(entry(&q, now, 60), &q, now).unwrap();
        assert_eq!(mode(&cache.path()), 0o600);
        fs::write(cache.path(), "not json").unwrap();
        assert!(matches!(cache.load(), Err(CacheError::Corrupt { .. })));
        cache.store(entry(&q, now, 60), &q, now).unwrap();
        assert_eq!(cache.load().unwrap().tokens.len(), 1);
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(base.path().join("a/b")).unwrap().count(), 1);
    }
}
