//! The docker helper's token cache: `<cache dir>/cache.json`, one entry per ACR token (docker
//! runs `get` for every pull and remembers nothing, so without it every pull is an ACR call).
//!
//! - Location: `--cache-dir`, else `$ACR_CREDENTIAL_HELPER_CACHE_DIR`, else
//!   `$XDG_CACHE_HOME/acr-credential-helper`, else `~/.cache/acr-credential-helper`.
//! - The file holds registry passwords (as docker's own `config.json` does): the directory is
//!   created 0700, the file written 0600; a file readable by group or others is ignored (and
//!   replaced by the next fetch); a directory writable by group or others, or readable by others,
//!   is not used at all (nothing is read from or written to it). Temporary files a crashed
//!   writer left behind (older than a minute, or owned by another user) are removed when storing.
//! - An entry records its last renewal attempt: after a failed one, the cached token answers
//!   without asking ACR until `--min-renewal-interval` has passed (an outage costs one short
//!   attempt per interval, not one per pull).
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
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
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
/// Mode bits that make a cache directory unusable: others could replace or plant the file
/// (group/other-writable) or list it (other-readable).
pub const EXPOSED_DIR_BITS: u32 = 0o026;
/// A temporary file of ours older than this was left by a crashed writer (a write takes
/// milliseconds).
pub const STALE_TEMPORARY_AGE: Duration = Duration::from_secs(60);

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
    pub expires_at: Timestamp,
    /// When it was fetched.
    pub fetched_at: Timestamp,
    /// When a fetch was last attempted for it: the fetch itself or a later renewal attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<Timestamp>,
    /// Did that attempt fail (so this token is the one a failed renewal left in place)?
    #[serde(default)]
    pub last_attempt_failed: bool,
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
            .field("last_attempt_at", &self.last_attempt_at)
            .field("last_attempt_failed", &self.last_attempt_failed)
            .finish()
    }
}

impl CachedToken {
    /// The entry for `token` of `key`, fetched at `fetched_at` for `query`.
    pub fn new(
        query: &TokenQuery,
        key: &TokenKey,
        token: RegistryToken,
        fetched_at: Timestamp,
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
            last_attempt_at: Some(fetched_at),
            last_attempt_failed: false,
        }
    }

    /// When a fetch was last attempted for it (never before it was fetched).
    pub fn last_attempt(&self) -> Timestamp {
        self.last_attempt_at
            .map_or(self.fetched_at, |at| at.max(self.fetched_at))
    }

    /// This entry after a renewal attempt at `at` failed.
    pub fn after_failed_renewal(mut self, at: Timestamp) -> Self {
        self.last_attempt_at = Some(at);
        self.last_attempt_failed = true;
        self
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
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at <= now
    }

    /// May `get` answer with it at `now` instead of fetching: while more than `threshold` of
    /// its lifetime is left, or, inside the threshold, while it is unexpired and the last fetch
    /// or failed renewal attempt was less than `min_renewal_interval` ago (so a threshold >= the
    /// lifetime is no hot loop, and an outage is not asked on every pull).
    pub fn serves(
        &self,
        now: Timestamp,
        threshold: Duration,
        min_renewal_interval: Duration,
    ) -> bool {
        if self.expired(now) {
            return false;
        }
        let left =
            std::time::Duration::try_from(self.expires_at.duration_since(now)).unwrap_or_default();
        let age = std::time::Duration::try_from(now.duration_since(self.last_attempt()))
            .unwrap_or_default();
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
    pub fn upsert(&mut self, entry: CachedToken, now: Timestamp, query: &TokenQuery) {
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
    /// The directory is writable by group or others, or readable by others.
    #[error(
        "cache directory {path} is accessible by others (mode {mode:04o}): the token cache is \
         not used (it holds registry passwords; chmod 700 it to use it)"
    )]
    ExposedDir {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
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

    /// Refuses a directory others could write to or list; a missing one is fine.
    fn check_dir(&self) -> Result<(), CacheError> {
        let metadata = match fs::metadata(&self.dir) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(CacheError::Dir {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & EXPOSED_DIR_BITS != 0 {
            return Err(CacheError::ExposedDir {
                path: self.dir.clone(),
                mode,
            });
        }
        Ok(())
    }

    /// The cached tokens; empty when there is no file yet.
    pub fn load(&self) -> Result<CacheContents, CacheError> {
        self.check_dir()?;
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
        now: Timestamp,
    ) -> Result<(), CacheError> {
        self.update(|contents| {
            contents.upsert(entry, now, query);
            true
        })
    }

    /// Marks the entry for `token` (if the file still holds that very token) as left in place
    /// by a renewal attempt that failed at `at`.
    pub fn record_failed_renewal(
        &self,
        token: &CachedToken,
        at: Timestamp,
    ) -> Result<(), CacheError> {
        self.update(|contents| {
            // Another `get` may have renewed it meanwhile: its token stays as it is.
            let held = contents
                .tokens
                .iter_mut()
                .find(|t| t.same_token(token) && t.fetched_at == token.fetched_at);
            match held {
                Some(held) => {
                    *held = held.clone().after_failed_renewal(at);
                    true
                }
                None => false,
            }
        })
    }

    /// Applies `change` to the file's contents and, when it says so, writes them back.
    fn update(&self, change: impl FnOnce(&mut CacheContents) -> bool) -> Result<(), CacheError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| CacheError::Dir {
                path: self.dir.clone(),
                source,
            })?;
        // An existing directory keeps its mode: never write passwords into an exposed one.
        self.check_dir()?;
        // Whatever could not be read is replaced: the caller has already noted why.
        let mut contents = self.load().unwrap_or_default();
        if !change(&mut contents) {
            return Ok(());
        }
        contents.version = VERSION;
        let path = self.path();
        let write_error = |source| CacheError::Write {
            path: path.clone(),
            source,
        };
        let text = serde_json::to_vec_pretty(&contents)
            .map_err(|e| write_error(std::io::Error::other(e.to_string())))?;
        let name = format!(
            ".{FILE_NAME}.{}.{}.tmp",
            std::process::id(),
            Timestamp::now().as_nanosecond()
        );
        let temporary = self.dir.join(&name);
        let written = write_new_private(&temporary, &text).and_then(|our_uid| {
            self.remove_stale_temporaries(&name, our_uid);
            fs::rename(&temporary, &path)
        });
        if let Err(source) = written {
            let _ = fs::remove_file(&temporary);
            return Err(write_error(source));
        }
        Ok(())
    }

    /// Removes the temporary files (they may hold passwords) that crashed writers or other
    /// users left in the directory; best effort, a file that cannot be removed stays.
    fn remove_stale_temporaries(&self, ours: &str, our_uid: u32) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            let age = metadata
                .modified()
                .ok()
                .and_then(|modified| modified.elapsed().ok());
            if !metadata.is_dir() && stale_temporary(name, ours, metadata.uid(), our_uid, age) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Is `name` a temporary cache file to remove: not `ours`, and owned by another user or older
/// than [`STALE_TEMPORARY_AGE`] (`age` is `None` for a modification time in the future)?
pub fn stale_temporary(
    name: &str,
    ours: &str,
    owner_uid: u32,
    our_uid: u32,
    age: Option<Duration>,
) -> bool {
    let temporary = name.starts_with(&format!(".{FILE_NAME}.")) && name.ends_with(".tmp");
    temporary
        && name != ours
        && (owner_uid != our_uid || age.is_some_and(|age| age > STALE_TEMPORARY_AGE))
}

/// Creates `path` (never following or reusing an existing file) with mode 0600 and `bytes`;
/// returns its owner, i.e. the user this process writes as.
fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<u32> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(file.metadata()?.uid())
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

    fn entry(q: &TokenQuery, fetched: Timestamp, lifetime_secs: i64) -> CachedToken {
        let key = match &q.instance_name {
            Some(_) => TokenKey::enterprise(q.region.clone(), "cri-1"),
            None => TokenKey::personal(q.region.clone()),
        };
        let token = RegistryToken {
            username: "cr_temp_user".into(),
            password: "very-secret-password".into(),
            expires_at: fetched + jiff::SignedDuration::from_secs(lifetime_secs),
        };
        CachedToken::new(q, &key, token, fetched)
    }

    #[test]
    fn a_token_serves_outside_the_threshold_and_inside_it_only_until_the_renewal_floor() {
        let t0 = Timestamp::now();
        let at = |s: i64| t0 + jiff::SignedDuration::from_millis(s);
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
    fn after_a_failed_renewal_a_token_serves_until_the_renewal_floor_has_passed_again() {
        let t0 = Timestamp::now();
        let at = |ms: i64| t0 + jiff::SignedDuration::from_millis(ms);
        let (threshold, floor) = (Duration::from_secs(30), Duration::from_secs(2));
        let token = entry(&query(None), t0, 20);
        assert!(!token.serves(at(5_000), threshold, floor));
        let failed = token.clone().after_failed_renewal(at(5_000));
        assert_eq!(failed.last_attempt(), at(5_000));
        assert!(failed.serves(at(6_900), threshold, floor));
        assert!(!failed.serves(at(7_100), threshold, floor));
        // Never past expiry, and an attempt time before the fetch counts as the fetch.
        assert!(!failed.serves(at(20_000), threshold, Duration::from_secs(60)));
        let odd = token.after_failed_renewal(at(-10_000));
        assert_eq!(odd.last_attempt(), t0);
        // Files written before these fields existed still read.
        let mut old: serde_json::Value = serde_json::to_value(&odd).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("last_attempt_at");
        fields.remove("last_attempt_failed");
        let old: CachedToken = serde_json::from_value(old).unwrap();
        assert_eq!((old.last_attempt(), old.last_attempt_failed), (t0, false));
    }

    #[test]
    fn a_failed_renewal_is_recorded_only_on_the_token_it_left_in_place() {
        let base = tempfile::tempdir().unwrap();
        let cache = TokenFile::new(base.path().join("c"));
        let q = query(None);
        let now = Timestamp::now();
        let held = entry(&q, now, 60);
        cache.store(held.clone(), &q, now).unwrap();
        let later = now + jiff::SignedDuration::from_secs(5);
        cache.record_failed_renewal(&held, later).unwrap();
        let recorded = cache.load().unwrap().find(&q).cloned().unwrap();
        assert!(recorded.last_attempt_failed);
        assert_eq!(recorded.last_attempt_at, Some(later));
        assert_eq!(recorded.password, held.password);
        // Renewed meanwhile by another `get`: the newer token is left alone.
        let newer = entry(&q, later, 60);
        cache.store(newer.clone(), &q, later).unwrap();
        cache
            .record_failed_renewal(&held, later + jiff::SignedDuration::from_secs(1))
            .unwrap();
        assert_eq!(cache.load().unwrap().find(&q), Some(&newer));
    }

    #[test]
    fn a_directory_others_can_write_or_list_is_neither_read_nor_written() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("c");
        let cache = TokenFile::new(&dir);
        let q = query(None);
        let now = Timestamp::now();
        cache.store(entry(&q, now, 60), &q, now).unwrap();
        for exposed in [0o777, 0o770, 0o705, 0o722] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(exposed)).unwrap();
            let error = cache.load().unwrap_err();
            assert!(
                matches!(&error, CacheError::ExposedDir { mode, .. } if *mode == exposed),
                "{exposed:o}: {error:?}"
            );
            let text = error.to_string();
            assert!(text.contains(&dir.display().to_string()), "{text}");
            assert!(text.contains(&format!("mode {exposed:04o}")), "{text}");
            let written = fs::read(cache.path()).unwrap();
            assert!(matches!(
                cache.store(entry(&q, now, 60), &q, now),
                Err(CacheError::ExposedDir { .. })
            ));
            assert_eq!(fs::read(cache.path()).unwrap(), written, "{exposed:o}");
        }
        // Group may read and search it: the file itself is 0600.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
        assert!(cache.load().unwrap().find(&q).is_some());
        cache.store(entry(&q, now, 60), &q, now).unwrap();
    }

    #[test]
    fn temporary_files_are_stale_when_old_or_another_users() {
        let ours = ".cache.json.7.1.tmp";
        let other = ".cache.json.8.2.tmp";
        let young = Some(Duration::from_secs(5));
        let old = Some(Duration::from_secs(61));
        assert!(!stale_temporary(other, ours, 1000, 1000, young));
        assert!(!stale_temporary(other, ours, 1000, 1000, None));
        assert!(stale_temporary(other, ours, 1000, 1000, old));
        assert!(stale_temporary(other, ours, 0, 1000, young));
        assert!(!stale_temporary(ours, ours, 0, 1000, old));
        for name in [
            "cache.json",
            ".cache.json",
            "notes.tmp",
            ".other.json.1.2.tmp",
        ] {
            assert!(!stale_temporary(name, ours, 0, 1000, old), "{name}");
        }
    }

    #[test]
    fn store_removes_temporary_files_a_crashed_writer_left() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("c");
        fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let crashed = dir.join(".cache.json.4242.1.tmp");
        let in_flight = dir.join(".cache.json.4243.2.tmp");
        for path in [&crashed, &in_flight] {
            fs::write(path, "very-secret-password").unwrap();
        }
        let two_minutes_ago = std::time::SystemTime::now() - Duration::from_secs(120);
        File::options()
            .write(true)
            .open(&crashed)
            .unwrap()
            .set_modified(two_minutes_ago)
            .unwrap();
        let cache = TokenFile::new(&dir);
        let (q, now) = (query(None), Timestamp::now());
        cache.store(entry(&q, now, 60), &q, now).unwrap();
        assert!(!crashed.exists());
        // A young one of this user may be a concurrent `get` about to rename it.
        assert!(in_flight.exists());
        assert!(cache.load().unwrap().find(&q).is_some());
    }

    #[test]
    fn entries_answer_only_their_own_source_endpoint_edition_and_instance() {
        let now = Timestamp::now();
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
        let later = now + jiff::SignedDuration::from_secs(61);
        contents.upsert(entry(&personal, later, 60), later, &personal);
        assert_eq!(contents.tokens.len(), 1);
        assert_eq!(contents.tokens[0].fetched_at, later);
    }

    #[test]
    fn the_file_round_trips_and_corrupt_text_names_no_content() {
        let now = Timestamp::now();
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
        let now = Timestamp::now();
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
