//! `acr-refresher`: the command line of the reference refresher. Subcommands live in `cli`.

use std::process::ExitCode;

use acr_refresher::cli::{Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    // kube's client asks rustls for the process-wide provider. Built inside the workspace, rustls
    // has ring compiled in besides aws-lc-rs (the fakes enable it), so it cannot pick one by itself
    // and kube would panic. The refresher's own HTTP clients name aws-lc-rs explicitly
    // (src/tls.rs); the process installs the same one, here and nowhere in the library.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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
