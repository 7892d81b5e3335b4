//! `acr-refresher credential-helper ACTION`: the docker-credential-helpers protocol
//! (installed as `docker-credential-acr`, docker runs `docker-credential-acr get`).
//!
//! - `get`: server URL on stdin; for an ACR host a temporary token as
//!   `{"ServerURL","Username","Secret"}` on stdout (exit 0); for any other host the protocol's
//!   `credentials not found in native keychain` on stdout (exit 1), so docker pulls anonymously.
//!   Docker runs `get` for every pull, so tokens are kept in a cache file (`token_file`) and
//!   renewed as `acr-refresher run` renews them: once less than `--expiring-threshold` of the
//!   lifetime is left, but never sooner than `--min-renewal-interval` after the last fetch. When
//!   a valid token is cached, a renewal is one short attempt ([`FetchBudget::Renewal`]); when it
//!   fails, the cached token is answered, and answered without asking ACR until
//!   `--min-renewal-interval` has passed since that attempt (docker waits on every pull). With
//!   no valid token, a fetch has every retry the flags allow.
//! - `store`: refused (exit 1): the credentials are temporary and fetched by `get`, so what
//!   `docker login` would store could never be used.
//! - `erase`: nothing docker stored, so nothing to erase (exit 0); `list`: `{}` (exit 0).
//!
//! Errors go to stdout as the protocol wants (docker shows them) and, with the input named, to
//! stderr. The secret appears on stdout in a `get` answer, in the 0600 cache file, and nowhere
//! else.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use jiff::Timestamp;

use super::token_file::{
    CACHE_DIR_ENV, CacheError, CachedToken, TokenFile, TokenQuery, default_dir,
};
use super::{FetchBudget, RenewalArgs, acr_domain, fetch_token, server_host};
use crate::cloud_args::CloudArgs;

/// The protocol's "no credentials for this server" answer.
pub const NOT_FOUND: &str = "credentials not found in native keychain";
/// The protocol's answer to a `get` without a server URL.
pub const MISSING_SERVER_URL: &str = "no credentials server URL";
/// Exit status: done.
pub const EXIT_OK: u8 = 0;
/// Exit status: not found, refused, or failed (the message is on stdout).
pub const EXIT_FAILED: u8 = 1;

/// Settings of `acr-refresher credential-helper`.
#[derive(Debug, Clone, Args)]
pub struct CredentialHelperArgs {
    /// How to reach the metadata server and ACR.
    #[command(flatten)]
    pub cloud: CloudArgs,
    /// When a cached token is renewed.
    #[command(flatten)]
    pub renewal: RenewalArgs,
    /// Directory of the token cache file (created 0700; the file is 0600); default
    /// $XDG_CACHE_HOME/acr-credential-helper or ~/.cache/acr-credential-helper.
    #[arg(long, env = CACHE_DIR_ENV)]
    pub cache_dir: Option<PathBuf>,
    /// Keep no token cache: every get fetches a new token.
    #[arg(long)]
    pub no_cache: bool,
    /// The protocol action docker asks for.
    #[command(subcommand)]
    pub action: HelperAction,
}

/// The docker-credential-helpers actions.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum HelperAction {
    /// Print temporary credentials for the server URL on stdin.
    Get,
    /// Refused: ACR credentials are temporary and fetched by get.
    Store,
    /// Nothing is stored: succeeds without doing anything.
    Erase,
    /// Nothing is stored: prints {}.
    List,
    /// Print the version.
    Version,
}

/// The answer to `get` (field names as docker expects them).
#[derive(Debug, serde::Serialize)]
struct GetAnswer<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

/// Runs one protocol action with `input` as stdin; returns the exit status.
pub fn main(
    args: CredentialHelperArgs,
    input: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut text = String::new();
    // `list` and `version` get no input; the others read all of it (docker closes stdin).
    if !matches!(args.action, HelperAction::List | HelperAction::Version)
        && let Err(e) = input.read_to_string(&mut text)
    {
        let message = format!("cannot read stdin: {e}");
        return fail(out, err, &message, &message);
    }
    match args.action {
        HelperAction::Get => get(&args, text.trim(), out, err),
        HelperAction::Store => fail(
            out,
            err,
            "acr-refresher credential-helper is read-only: ACR credentials are temporary and \
             fetched by get; store is not supported",
            "store refused: read-only helper",
        ),
        HelperAction::Erase | HelperAction::Version | HelperAction::List => {
            let answer = match args.action {
                HelperAction::List => "{}".to_owned(),
                HelperAction::Version => {
                    format!(
                        "acr-refresher credential-helper {}",
                        env!("CARGO_PKG_VERSION")
                    )
                }
                _ => return EXIT_OK,
            };
            let _ = writeln!(out, "{answer}");
            EXIT_OK
        }
    }
}

fn get(
    args: &CredentialHelperArgs,
    server_url: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(host) = server_host(server_url) else {
        return fail(out, err, MISSING_SERVER_URL, "get: no server URL on stdin");
    };
    let Some(domain) = acr_domain(&host) else {
        let _ = writeln!(
            err,
            "acr-refresher credential-helper: get {server_url:?}: {host} is not an ACR registry \
             host (registry[-vpc].<region>.aliyuncs.com or \
             <instance>-registry[-vpc].<region>.cr.aliyuncs.com); no credentials"
        );
        let _ = writeln!(out, "{NOT_FOUND}");
        return EXIT_FAILED;
    };
    let mut cache = token_file(args, err);
    let query = TokenQuery::new(&args.cloud, &domain);
    let cached = match cache.as_ref().map(TokenFile::load) {
        None => None,
        Some(Ok(contents)) => contents.find(&query).cloned(),
        Some(Err(e)) => {
            note(err, &e.to_string());
            if matches!(e, CacheError::ExposedDir { .. }) {
                cache = None;
            }
            None
        }
    };
    let renewal = &args.renewal;
    let now = Timestamp::now();
    let valid = cached.filter(|token| !token.expired(now));
    if let Some(token) = &valid
        && token.serves(
            now,
            renewal.expiring_threshold,
            renewal.min_renewal_interval,
        )
    {
        if token.last_attempt_failed {
            note(
                err,
                &format!(
                    "the last renewal for {server_url} failed at {}; answering the cached token \
                     (valid until {}) without asking ACR before {}",
                    token.last_attempt(),
                    token.expires_at,
                    token.last_attempt() + renewal.min_renewal_interval
                ),
            );
        }
        return answer(out, err, server_url, &token.username, &token.password);
    }
    let budget = match valid {
        Some(_) => FetchBudget::Renewal,
        None => FetchBudget::Full,
    };
    match fetch_token(&args.cloud, &domain, budget) {
        Ok((key, token)) => {
            let now = Timestamp::now();
            let entry = CachedToken::new(&query, &key, token, now);
            if let Some(cache) = &cache
                && let Err(e) = cache.store(entry.clone(), &query, now)
            {
                note(err, &e.to_string());
            }
            answer(out, err, server_url, &entry.username, &entry.password)
        }
        Err(error) => {
            let message = format!("cannot get ACR credentials for {server_url}: {error}");
            match valid.filter(|token| !token.expired(Timestamp::now())) {
                // As the refresher does: a failed renewal never withholds a valid token.
                Some(token) => {
                    // The next `get`s answer it without asking ACR for a while.
                    if let Some(cache) = &cache
                        && let Err(e) = cache.record_failed_renewal(&token, Timestamp::now())
                    {
                        note(err, &e.to_string());
                    }
                    note(
                        err,
                        &format!(
                            "{message}; answering the cached token (valid until {})",
                            token.expires_at
                        ),
                    );
                    answer(out, err, server_url, &token.username, &token.password)
                }
                None => fail(out, err, &message, &message),
            }
        }
    }
}

/// The cache `get` uses: `None` with `--no-cache`, or (noted) when no directory can be found.
fn token_file(args: &CredentialHelperArgs, err: &mut dyn Write) -> Option<TokenFile> {
    if args.no_cache {
        return None;
    }
    let dir = args
        .cache_dir
        .clone()
        .or_else(|| default_dir(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME")));
    if dir.is_none() {
        note(
            err,
            &format!(
                "no cache directory (--cache-dir, {CACHE_DIR_ENV}, XDG_CACHE_HOME and HOME are \
                 unset): every get fetches a new token"
            ),
        );
    }
    dir.map(TokenFile::new)
}

/// Writes the `get` answer.
fn answer(
    out: &mut dyn Write,
    err: &mut dyn Write,
    server_url: &str,
    username: &str,
    secret: &str,
) -> u8 {
    let answer = GetAnswer {
        server_url,
        username,
        secret,
    };
    match serde_json::to_string(&answer) {
        Ok(json) => {
            let _ = writeln!(out, "{json}");
            EXIT_OK
        }
        Err(e) => fail(out, err, &e.to_string(), &e.to_string()),
    }
}

/// A diagnostic on stderr that does not change the answer.
fn note(err: &mut dyn Write, message: &str) {
    let _ = writeln!(err, "acr-refresher credential-helper: {message}");
}

/// Writes the protocol's error answer (stdout) and a diagnostic (stderr).
fn fail(out: &mut dyn Write, err: &mut dyn Write, answer: &str, diagnostic: &str) -> u8 {
    let _ = writeln!(out, "{answer}");
    let _ = writeln!(err, "acr-refresher credential-helper: {diagnostic}");
    EXIT_FAILED
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        helper: CredentialHelperArgs,
    }

    fn args(action: &str) -> CredentialHelperArgs {
        Cli::try_parse_from([
            "x",
            "--metadata-endpoint",
            "http://127.0.0.1:9",
            "--no-cache",
            action,
        ])
        .unwrap()
        .helper
    }

    fn call(action: &str, stdin: &str) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = main(args(action), &mut stdin.as_bytes(), &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn other_hosts_are_not_found_without_any_call() {
        let (code, out, err) = call("get", "https://index.docker.io/v1/\n");
        assert_eq!((code, out.trim()), (EXIT_FAILED, NOT_FOUND));
        assert!(
            err.contains("index.docker.io is not an ACR registry host"),
            "{err}"
        );
    }

    #[test]
    fn get_without_a_server_url_says_so() {
        let (code, out, _) = call("get", "\n");
        assert_eq!((code, out.trim()), (EXIT_FAILED, MISSING_SERVER_URL));
    }

    #[test]
    fn store_is_refused_erase_and_list_store_nothing() {
        let (code, out, _) = call("store", r#"{"ServerURL":"x","Username":"u","Secret":"s"}"#);
        assert_eq!(code, EXIT_FAILED);
        assert!(out.contains("read-only"), "{out}");
        assert!(!out.contains("\"s\""));
        assert_eq!(
            call("erase", "registry.cn-hangzhou.aliyuncs.com").0,
            EXIT_OK
        );
        let (code, out, _) = call("list", "");
        assert_eq!((code, out.trim()), (EXIT_OK, "{}"));
    }

    #[test]
    fn unreachable_metadata_is_an_error_naming_the_server() {
        let (code, out, err) = call("get", "registry.cn-hangzhou.aliyuncs.com");
        assert_eq!(code, EXIT_FAILED);
        assert!(
            out.starts_with("cannot get ACR credentials for registry.cn-hangzhou.aliyuncs.com"),
            "{out}"
        );
        assert!(err.contains("ECS metadata"), "{err}");
    }
}
