//! `acr-refresher credential-helper ACTION`: the docker-credential-helpers protocol
//! (installed as `docker-credential-acr`, docker runs `docker-credential-acr get`).
//!
//! - `get`: server URL on stdin; for an ACR host a fresh temporary token as
//!   `{"ServerURL","Username","Secret"}` on stdout (exit 0); for any other host the protocol's
//!   `credentials not found in native keychain` on stdout (exit 1), so docker pulls anonymously.
//! - `store`: refused (exit 1): the credentials are temporary and fetched on every `get`, so
//!   what `docker login` would store could never be used.
//! - `erase`: nothing is stored, so nothing to erase (exit 0); `list`: `{}` (exit 0).
//!
//! Errors go to stdout as the protocol wants (docker shows them) and, with the input named, to
//! stderr. The secret appears on stdout in a `get` answer and nowhere else.

use std::io::{Read, Write};

use clap::{Args, Subcommand};

use super::{RegistryTokens, acr_domain, block_on, server_host};
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
    /// The protocol action docker asks for.
    #[command(subcommand)]
    pub action: HelperAction,
}

/// The docker-credential-helpers actions.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum HelperAction {
    /// Print temporary credentials for the server URL on stdin.
    Get,
    /// Refused: ACR credentials are temporary and fetched on every get.
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
        HelperAction::Get => get(&args.cloud, text.trim(), out, err),
        HelperAction::Store => fail(
            out,
            err,
            "acr-refresher credential-helper is read-only: ACR credentials are temporary and \
             fetched on every get; store is not supported",
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

fn get(cloud: &CloudArgs, server_url: &str, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
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
    let result = block_on(async {
        let tokens = RegistryTokens::new(cloud)?;
        tokens.token(&domain).await
    })
    .and_then(|r| r);
    match result {
        Ok(token) => {
            let answer = GetAnswer {
                server_url,
                username: &token.username,
                secret: &token.password,
            };
            match serde_json::to_string(&answer) {
                Ok(json) => {
                    let _ = writeln!(out, "{json}");
                    EXIT_OK
                }
                Err(e) => fail(out, err, &e.to_string(), &e.to_string()),
            }
        }
        Err(error) => {
            let message = format!("cannot get ACR credentials for {server_url}: {error}");
            fail(out, err, &message, &message)
        }
    }
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
        Cli::try_parse_from(["x", "--metadata-endpoint", "http://127.0.0.1:9", action])
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
