//! fake-acr binary. Settings precedence (fake-server-kit's, as fake-metadata's): flag >
//! environment variable (`FAKE_ACR_*`) > config file (`--config`, YAML or JSON) > default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fake_acr::{FakeAcr, Settings};
use fake_server_kit::settings_file::overlay;

/// A faithful fake of Alibaba Cloud Container Registry (OpenAPI, token service, Registry v2).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Main listener (OpenAPI, registries, token service) [default: 127.0.0.1:0]
    #[arg(long, env = "FAKE_ACR_LISTEN")]
    listen: Option<SocketAddr>,
    /// Admin API listener [default: 127.0.0.1:0]
    #[arg(long, env = "FAKE_ACR_ADMIN_LISTEN")]
    admin_listen: Option<SocketAddr>,
    /// YAML or JSON settings file (see README)
    #[arg(long, env = "FAKE_ACR_CONFIG")]
    config: Option<PathBuf>,
    /// Shared secret validating fake-metadata's STS credentials [default: acs-wire's DEFAULT_ACCOUNT_SECRET]
    #[arg(long, env = "FAKE_ACR_ACCOUNT_SECRET", hide_env_values = true)]
    account_secret: Option<String>,
    /// Write the test CA certificate (PEM) clients must trust to this file
    #[arg(long, env = "FAKE_ACR_TLS_CA_OUT")]
    tls_ca_out: Option<PathBuf>,
    /// Sign the serving certificate with this CA certificate (PEM) instead of a new CA per start
    #[arg(long, env = "FAKE_ACR_TLS_CA_CERT", requires = "tls_ca_key")]
    tls_ca_cert: Option<PathBuf>,
    /// The CA's private key (PEM PKCS#8), with --tls-ca-cert
    #[arg(long, env = "FAKE_ACR_TLS_CA_KEY", requires = "tls_ca_cert")]
    tls_ca_key: Option<PathBuf>,
    /// Lifetime of issued registry passwords, e.g. 1h, 15m, 30s [default: 1h]
    #[arg(long, env = "FAKE_ACR_TOKEN_LIFETIME", value_parser = fake_acr::settings::parse_duration_secs)]
    token_lifetime: Option<u64>,
    /// Serve plain HTTP instead of HTTPS
    #[arg(long, env = "FAKE_ACR_PLAIN_HTTP")]
    plain_http: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut settings = match &cli.config {
        Some(path) => match Settings::from_file(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        None => Settings::default(),
    };
    overlay(&mut settings.listen, cli.listen);
    overlay(&mut settings.admin_listen, cli.admin_listen);
    overlay(&mut settings.account_secret, cli.account_secret);
    overlay(&mut settings.token_lifetime_secs, cli.token_lifetime);
    if cli.plain_http {
        settings.plain_http = true;
    }
    // The pair travels together: a flag pair replaces the config file's pair whole.
    if let (Some(cert), Some(key)) = (cli.tls_ca_cert, cli.tls_ca_key) {
        settings.tls_ca_cert = Some(cert);
        settings.tls_ca_key = Some(key);
    }
    let running = match FakeAcr::start(settings).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if let Some(path) = &cli.tls_ca_out
        && let Err(e) = std::fs::write(path, running.ca_pem())
    {
        eprintln!("fake-acr: writing the test CA to {}: {e}", path.display());
        return ExitCode::from(1);
    }
    // One parseable line for supervisors and tests: where we listen.
    println!(
        "fake-acr listening on {} admin {}",
        running.addr(),
        running.admin_url()
    );
    if let Err(e) = fake_server_kit::listener::stop_signal().await {
        eprintln!("fake-acr: cannot watch SIGTERM: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
