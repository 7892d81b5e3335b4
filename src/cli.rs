//! The command line: one subcommand per verb; each lives in its own module under `cli/`.
//!
//! Modules: `config` (`config check`, `config match`).

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
    /// Run the refresher: keep pull Secrets and ServiceAccounts up to date (issue 6).
    Run(Box<crate::run::RunArgs>),
}

impl Cli {
    /// Runs the parsed command, writing results to `out` and diagnostics to `err`.
    pub fn run(self, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
        match self.command {
            Command::Config(command) => ExitCode::from(command.run(out, err)),
            // Logs go to stderr from many threads: callers must not hold the stdio locks here
            // (main.rs dispatches `run` before taking them).
            Command::Run(args) => crate::run::main(*args),
        }
    }
}
