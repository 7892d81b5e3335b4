//! `acr-refresher`: the command line of the reference refresher. Subcommands live in `cli`.

use std::process::ExitCode;

use acr_refresher::cli::Cli;
use clap::Parser;

fn main() -> ExitCode {
    Cli::parse().run(&mut std::io::stdout().lock(), &mut std::io::stderr().lock())
}
