//! The command line: one subcommand per verb; each lives in its own module under `cli/`.
//!
//! Modules: `config` (`config check`, `config match`). `run` lives in `crate::run`; the
//! credential-only sources `credential-helper` and `kubelet-credential-provider` in
//! `crate::credential_source`.

pub mod config;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `acr-refresher`: keeps Alibaba Cloud Container Registry pull credentials fresh in Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "acr-refresher", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a configuration or explain which registries it serves.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Run the refresher: keep pull Secrets and ServiceAccounts up to date.
    Run(Box<crate::run::RunArgs>),
    /// A docker credential helper (`get` prints temporary ACR credentials for the server URL
    /// on stdin); installed as `docker-credential-acr`, `docker-credential-acr get` works too.
    CredentialHelper(Box<crate::credential_source::docker_helper::CredentialHelperArgs>),
    /// A kubelet CredentialProvider exec plugin (CredentialProviderRequest on stdin,
    /// CredentialProviderResponse on stdout).
    KubeletCredentialProvider(Box<crate::credential_source::kubelet_provider::KubeletProviderArgs>),
}

/// Program names (argv[0]) that mean `acr-refresher credential-helper`.
pub const DOCKER_HELPER_PREFIX: &str = "docker-credential-";

/// The command line with `docker-credential-<anything> ARGS` rewritten to
/// `acr-refresher credential-helper ARGS`; any other command line unchanged.
pub fn dispatch_argv0(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let invoked_as_helper = args.first().is_some_and(|program| {
        std::path::Path::new(program)
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with(DOCKER_HELPER_PREFIX))
    });
    if !invoked_as_helper {
        return args;
    }
    let mut rewritten: Vec<std::ffi::OsString> =
        vec!["acr-refresher".into(), "credential-helper".into()];
    rewritten.extend(args.into_iter().skip(1));
    rewritten
}

impl Cli {
    /// Runs the parsed command, writing results to `out` and diagnostics to `err`.
    pub fn run(self, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
        match self.command {
            Command::Config(command) => ExitCode::from(command.run(out, err)),
            // Logs go to stderr from many threads: callers must not hold the stdio locks here
            // (main.rs dispatches `run` before taking them).
            Command::Run(args) => crate::run::main(*args),
            Command::CredentialHelper(args) => {
                ExitCode::from(crate::credential_source::docker_helper::main(
                    *args,
                    &mut std::io::stdin(),
                    out,
                    err,
                ))
            }
            Command::KubeletCredentialProvider(args) => {
                ExitCode::from(crate::credential_source::kubelet_provider::main(
                    *args,
                    &mut std::io::stdin(),
                    out,
                    err,
                ))
            }
        }
    }
}
