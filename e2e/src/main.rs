//! The conformance suite's command line: parses arguments and hands each command to the library.

use std::process::ExitCode;

use acr_conformance::cluster::cli::ClusterCommand;
use clap::{Parser, Subcommand};

/// The conformance suite for ACR credential helpers.
#[derive(Debug, Parser)]
#[command(name = "acr-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start or stop a local Kubernetes control plane.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Run the conformance scenarios against an implementation and write the report.
    Run(Box<acr_conformance::runner::RunOptions>),
    /// List the scenario catalogue.
    List,
    /// Keep the local control plane and both fakes running for development (optionally the
    /// reference refresher, or one scenario's setup); writes an env file; Ctrl-C removes it all.
    Sandbox(acr_conformance::sandbox::SandboxOptions),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Cluster(command) => command.run().await,
        Command::Run(options) => return run(*options).await,
        Command::Sandbox(options) => {
            return match acr_conformance::sandbox::run(options).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::List => {
            print!("{}", acr_conformance::runner::list());
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `run`: exit 0 only if every applicable scenario passed.
async fn run(options: acr_conformance::runner::RunOptions) -> ExitCode {
    match acr_conformance::runner::run(&options).await {
        Ok(report) => {
            println!("{}", report.markdown());
            println!("report: {}", options.report_dir.display());
            if report.all_applicable_passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
