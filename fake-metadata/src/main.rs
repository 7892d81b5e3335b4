//! `fake-metadata`: the fake ECS metadata server as a process.
//!
//! Settings precedence (fake-server-kit's, as fake-acr's): command-line flag > environment
//! variable (`FAKE_METADATA_*`) > config file (`--config`, YAML or JSON) > built-in default.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fake_metadata::settings::{AccountSecret, parse_duration};
use fake_metadata::{FakeMetadata, HardenedMode, Settings};
use fake_server_kit::settings_file::overlay;

/// Default metadata listener of the binary (the library defaults to an ephemeral port).
const DEFAULT_LISTEN: &str = "127.0.0.1:8100";
/// Default admin listener of the binary.
const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8101";

/// A faithful fake of the Alibaba Cloud ECS instance metadata server.
///
/// Precedence: flag > environment variable > config file > default.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Args {
    /// Metadata listener [default: 127.0.0.1:8100]; use 100.100.100.200:80 inside a network namespace.
    #[arg(long, env = "FAKE_METADATA_LISTEN", value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Admin API listener [default: 127.0.0.1:8101].
    #[arg(long, env = "FAKE_METADATA_ADMIN_LISTEN", value_name = "ADDR:PORT")]
    admin_listen: Option<SocketAddr>,
    /// Config file (YAML or JSON, keys as in the README).
    #[arg(long, env = "FAKE_METADATA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Region id served at /latest/meta-data/region-id [default: cn-hangzhou].
    #[arg(long, env = "FAKE_METADATA_REGION")]
    region: Option<String>,
    /// Zone id [default: <region>-h].
    #[arg(long, env = "FAKE_METADATA_ZONE")]
    zone: Option<String>,
    /// Instance id [default: i-bp1fakemetadata0001].
    #[arg(long, env = "FAKE_METADATA_INSTANCE_ID")]
    instance_id: Option<String>,
    /// Attached RAM role [default: KubernetesWorkerRole-fake].
    #[arg(long, env = "FAKE_METADATA_ROLE", conflicts_with = "no_role")]
    role: Option<String>,
    /// No RAM role attached: the credentials listing answers 404.
    #[arg(long, env = "FAKE_METADATA_NO_ROLE")]
    no_role: bool,
    /// Hardened mode: optional or required [default: optional].
    #[arg(long, env = "FAKE_METADATA_HARDENED", value_name = "MODE")]
    hardened: Option<HardenedMode>,
    /// Lifetime of each set of STS credentials, e.g. 6h, 15m, 90s [default: 6h].
    #[arg(long, env = "FAKE_METADATA_CREDENTIAL_LIFETIME", value_parser = parse_duration)]
    credential_lifetime: Option<std::time::Duration>,
    /// New credentials are issued this long before the current ones expire [default: 30m].
    #[arg(long, env = "FAKE_METADATA_ROTATION_LEAD_TIME", value_parser = parse_duration)]
    rotation_lead_time: Option<std::time::Duration>,
    /// Account id in the STS claims [default: 1234567890123456].
    #[arg(long, env = "FAKE_METADATA_ACCOUNT_ID")]
    account_id: Option<String>,
    /// Account secret shared with fake-acr [default: fake-account-secret-change-me].
    #[arg(long, env = "FAKE_METADATA_ACCOUNT_SECRET", hide_env_values = true)]
    account_secret: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "FAKE_METADATA_LOG_JSON")]
    log_json: bool,
}

fn settings(args: Args) -> Result<Settings, fake_metadata::settings::SettingsError> {
    let mut s = match &args.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    // The binary listens on fixed documented ports unless the config file says otherwise.
    let library_default = Settings::default();
    if s.listen == library_default.listen {
        s.listen = DEFAULT_LISTEN
            .parse()
            .expect("invariant: DEFAULT_LISTEN parses");
    }
    if s.admin_listen == library_default.admin_listen {
        s.admin_listen = DEFAULT_ADMIN_LISTEN
            .parse()
            .expect("invariant: DEFAULT_ADMIN_LISTEN parses");
    }
    overlay(&mut s.listen, args.listen);
    overlay(&mut s.admin_listen, args.admin_listen);
    overlay(&mut s.instance.region_id, args.region);
    overlay(&mut s.instance.zone_id, args.zone);
    overlay(&mut s.instance.instance_id, args.instance_id);
    overlay(&mut s.role, args.role.map(Some));
    if args.no_role {
        s.role = None;
    }
    overlay(&mut s.hardened, args.hardened);
    overlay(&mut s.credential_lifetime, args.credential_lifetime);
    overlay(&mut s.rotation_lead_time, args.rotation_lead_time);
    overlay(&mut s.account_id, args.account_id);
    overlay(
        &mut s.account_secret,
        args.account_secret.map(AccountSecret),
    );
    Ok(s)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if args.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    let settings = match settings(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake-metadata: {e}");
            return ExitCode::from(2);
        }
    };
    let running = match FakeMetadata::start(settings).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fake-metadata: {e}");
            return ExitCode::FAILURE;
        }
    };
    // One line on stdout that scripts and tests can wait for.
    println!(
        "fake-metadata ready: metadata {} admin {}",
        running.base_url(),
        running.admin_url()
    );
    tokio::select! {
        stopped = fake_server_kit::listener::stop_signal() => {
            if let Err(e) = stopped {
                eprintln!("fake-metadata: cannot watch SIGTERM: {e}");
                return ExitCode::FAILURE;
            }
        }
        _ = running.wait() => {}
    }
    ExitCode::SUCCESS
}
