//! The `fake-metadata` binary: `--help` lists every setting, precedence is
//! flag > environment variable > config file > default, and bad settings are named.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use fake_metadata::testing::{self, ChildGuard};

const BIN: &str = env!("CARGO_BIN_EXE_fake-metadata");

fn command() -> Command {
    let mut c = Command::new(BIN);
    // Start from a clean environment for the settings under test.
    for (key, _) in std::env::vars() {
        if key.starts_with("FAKE_METADATA_") {
            c.env_remove(key);
        }
    }
    c.args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]);
    c
}

/// Starts the binary, returns the guard and the metadata base address (`127.0.0.1:PORT`).
fn start(c: Command) -> (ChildGuard, String) {
    let mut child = ChildGuard::spawn("fake-metadata", c).unwrap();
    let line = child
        .wait_for_line("fake-metadata ready", Duration::from_secs(30))
        .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .expect("ready line names the metadata URL")
        .to_owned();
    (child, addr)
}

fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

#[test]
fn help_lists_every_setting() {
    let help = testing::run(Command::new(BIN).arg("--help")).unwrap();
    for flag in [
        "--listen",
        "--admin-listen",
        "--config",
        "--region",
        "--zone",
        "--instance-id",
        "--role",
        "--no-role",
        "--hardened",
        "--credential-lifetime",
        "--rotation-lead-time",
        "--account-id",
        "--account-secret",
        "--log-json",
        "FAKE_METADATA_REGION",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn flag_beats_env_beats_config_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fake.yaml");
    std::fs::write(
        &config,
        "instance:\n  region-id: cn-file\n  instance-id: i-file\n",
    )
    .unwrap();
    let region = "/latest/meta-data/region-id";

    let (_c, addr) = start(command());
    assert_eq!(get(&addr, region), "cn-hangzhou", "default");

    let mut c = command();
    c.arg("--config").arg(&config);
    let (_c, addr) = start(c);
    assert_eq!(get(&addr, region), "cn-file", "config file over default");

    let mut c = command();
    c.arg("--config")
        .arg(&config)
        .env("FAKE_METADATA_REGION", "cn-env");
    let (_c, addr) = start(c);
    assert_eq!(get(&addr, region), "cn-env", "env over config file");
    assert_eq!(
        get(&addr, "/latest/meta-data/instance-id"),
        "i-file",
        "file keeps what env omits"
    );

    let mut c = command();
    c.arg("--config")
        .arg(&config)
        .env("FAKE_METADATA_REGION", "cn-env")
        .args(["--region", "cn-flag"]);
    let (_c, addr) = start(c);
    assert_eq!(get(&addr, region), "cn-flag", "flag over env");
    assert_eq!(get(&addr, "/latest/meta-data/zone-id"), "cn-flag-h");
}

#[test]
fn bad_settings_are_named() {
    let err = Command::new(BIN)
        .args(["--credential-lifetime", "6 hours"])
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("6 hours"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "regoin: cn-x\n").unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yaml") && stderr.contains("regoin"),
        "{stderr}"
    );
}
