//! `acr-refresher`: the command line of the reference refresher. Subcommands live in `cli`.

use std::process::ExitCode;

use acr_refresher::cli::{Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    // Built inside the workspace, rustls has both ring and aws-lc-rs compiled in (other crates
    // enable the latter), so it cannot pick a provider by itself and kube's client would panic.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Installed as `docker-credential-acr`, docker runs `docker-credential-acr get`.
    let cli = Cli::parse_from(acr_refresher::cli::dispatch_argv0(
        std::env::args_os().collect(),
    ));
    // `run` logs from many threads: it must not run while this thread holds the stdio locks
    // (every other thread's log line would wait for them forever).
    if let Command::Run(args) = cli.command {
        return acr_refresher::run::main(*args);
    }
    cli.run(&mut std::io::stdout().lock(), &mut std::io::stderr().lock())
}
