//! Interop: Alibaba's official credentials SDKs, unchanged, get credentials from the fake-metadata
//! binary listening on 100.100.100.200:80 inside a network namespace this test creates (root only).
//!
//! Secrets never reach the test output: the SDK probe writes the credentials to a file, the test
//! validates them with the account secret and prints only the AccessKeyId.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use acs_wire::sts::{self, DEFAULT_ACCOUNT_SECRET};
use fake_metadata::settings::DEFAULT_ROLE;
use fake_metadata::testing::{self, ChildGuard, NetNs};

/// `alibabacloud-credentials` and its dependencies, pinned (as resolved by pip for 1.0.12).
const PYTHON_REQUIREMENTS: &[&str] = &[
    "alibabacloud-credentials==1.0.12",
    "alibabacloud-credentials-api==1.0.1",
    "alibabacloud-tea==0.4.3",
    "aiofiles==24.1.0",
    "aiohappyeyeballs==2.7.1",
    "aiohttp==3.14.5",
    "aiosignal==1.4.0",
    "APScheduler==3.11.3",
    "attrs==26.1.0",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "frozenlist==1.8.0",
    "idna==3.20",
    "multidict==7.2.1",
    "propcache==0.5.4",
    "requests==2.34.2",
    "typing_extensions==4.16.0",
    "tzlocal==5.4.5",
    "urllib3==2.8.0",
    "yarl==1.25.1",
];

/// Node's `@alicloud/credentials`, pinned (npm resolves its dependencies; the version is exact).
const NODE_PACKAGES: &[&str] = &["@alicloud/credentials@2.4.7"];

/// The Node equivalent of `PYTHON_PROBE` (argv[2] is the output file).
const NODE_PROBE: &str = r#"
const fs = require('fs');
const Credential = require('@alicloud/credentials');
(async () => {
  const client = new Credential.default(new Credential.Config({ type: 'ecs_ram_role' }));
  const c = await client.getCredential();
  fs.writeFileSync(process.argv[2], JSON.stringify({
    access_key_id: c.accessKeyId, access_key_secret: c.accessKeySecret, security_token: c.securityToken }));
  console.log('probe ok', c.accessKeyId);
})().catch((e) => { console.error('probe failed:', e.message); process.exit(1); });
"#;

const METADATA_ADDR: &str = "100.100.100.200";
const ADMIN_URL: &str = "http://100.100.100.200:8101";

/// Gets credentials the way an application does, writes them to argv[1], prints the AccessKeyId.
const PYTHON_PROBE: &str = r#"
import json, sys
from alibabacloud_credentials.client import Client
from alibabacloud_credentials.models import Config
credential = Client(Config(type='ecs_ram_role')).get_credential()
with open(sys.argv[1], 'w') as f:
    json.dump({'access_key_id': credential.access_key_id,
               'access_key_secret': credential.access_key_secret,
               'security_token': credential.security_token}, f)
print('probe ok', credential.access_key_id)
"#;

/// Calls the admin API from inside the namespace: argv[1] method, argv[2] path; prints the body.
const PYTHON_ADMIN: &str = r#"
import sys, urllib.request
request = urllib.request.Request(sys.argv[3] + sys.argv[2], method=sys.argv[1], data=b'' if sys.argv[1] != 'GET' else None)
print(urllib.request.urlopen(request, timeout=10).read().decode())
"#;

struct Scenario {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    // Field order matters: the fake is killed before its namespace is deleted.
    _fake: ChildGuard,
    netns: NetNs,
    python: PathBuf,
}

fn sdk_command(netns: &NetNs, python: &Path) -> Command {
    let mut command = netns.command(python);
    // The SDK must talk to 100.100.100.200 directly, whatever proxy the host has configured.
    for var in fake_server_kit::testing::PROXY_VARIABLES {
        command.env_remove(var);
    }
    command
        .env_remove("ALIBABA_CLOUD_IMDSV1_DISABLED")
        .env_remove("ALIBABA_CLOUD_ECS_METADATA");
    command
}

impl Scenario {
    fn start(hardened: &str) -> Self {
        let venv = testing::python_venv(PYTHON_REQUIREMENTS).expect("python venv");
        let python = venv.join("bin").join("python");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("probe.py"), PYTHON_PROBE).unwrap();
        std::fs::write(dir.path().join("admin.py"), PYTHON_ADMIN).unwrap();
        let netns = NetNs::create("fmd").expect("network namespace");
        netns
            .add_loopback_address(&format!("{METADATA_ADDR}/32"))
            .unwrap();
        let mut command = netns.command(env!("CARGO_BIN_EXE_fake-metadata"));
        command.args([
            "--listen",
            &format!("{METADATA_ADDR}:80"),
            "--admin-listen",
            &format!("{METADATA_ADDR}:8101"),
            "--hardened",
            hardened,
        ]);
        let mut fake = ChildGuard::spawn("fake-metadata", command).expect("spawn fake-metadata");
        fake.wait_for_line("fake-metadata ready", Duration::from_secs(30))
            .expect("fake-metadata ready");
        Self {
            dir: dir.path().to_owned(),
            _dir: dir,
            _fake: fake,
            netns,
            python,
        }
    }

    /// Runs the official SDK probe; returns (AccessKeyId, AccessKeySecret, SecurityToken).
    fn sdk_credentials(&self, imds_v1_disabled: bool) -> (String, String, String) {
        let out = self.dir.join("credentials.json");
        let _ = std::fs::remove_file(&out);
        let mut command = sdk_command(&self.netns, &self.python);
        command.arg(self.dir.join("probe.py")).arg(&out);
        if imds_v1_disabled {
            command.env("ALIBABA_CLOUD_IMDSV1_DISABLED", "true");
        }
        let stdout = testing::run(&mut command).expect("official SDK probe");
        assert!(stdout.contains("probe ok"), "{stdout}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let field = |k: &str| json[k].as_str().unwrap_or_default().to_owned();
        (
            field("access_key_id"),
            field("access_key_secret"),
            field("security_token"),
        )
    }

    /// Runs the Node SDK probe; same result shape as `sdk_credentials`.
    fn node_credentials(
        &self,
        node_dir: &Path,
        imds_v1_disabled: bool,
    ) -> (String, String, String) {
        let out = self.dir.join("node-credentials.json");
        let _ = std::fs::remove_file(&out);
        let script = self.dir.join("probe.js");
        std::fs::write(&script, NODE_PROBE).unwrap();
        let mut command = sdk_command(&self.netns, Path::new("node"));
        command
            .arg(&script)
            .arg(&out)
            .env("NODE_PATH", node_dir.join("node_modules"));
        if imds_v1_disabled {
            command.env("ALIBABA_CLOUD_IMDSV1_DISABLED", "true");
        }
        let stdout = testing::run(&mut command).expect("official Node SDK probe");
        assert!(stdout.contains("probe ok"), "{stdout}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let field = |k: &str| json[k].as_str().unwrap_or_default().to_owned();
        (
            field("access_key_id"),
            field("access_key_secret"),
            field("security_token"),
        )
    }

    fn admin(&self, method: &str, path: &str) -> serde_json::Value {
        let mut command = sdk_command(&self.netns, &self.python);
        command
            .arg(self.dir.join("admin.py"))
            .args([method, path, ADMIN_URL]);
        let stdout = testing::run(&mut command).expect("admin call");
        serde_json::from_str(stdout.trim()).unwrap()
    }
}

/// Checks the SDK got genuine credentials of the default role; returns the AccessKeyId.
fn assert_genuine((id, secret, token): &(String, String, String)) {
    let (claims, derived_secret) =
        sts::validate(DEFAULT_ACCOUNT_SECRET, id, token).expect("SDK credentials validate");
    assert_eq!(
        &derived_secret, secret,
        "SDK's AccessKeySecret matches the token"
    );
    assert_eq!(claims.role, DEFAULT_ROLE);
    eprintln!("SDK got AccessKeyId {id} (serial {})", claims.serial);
}

fn run_python_case(hardened: &str, imds_v1_disabled: bool) {
    if !testing::privileged_or_skip("network namespace with 100.100.100.200 for the official SDK") {
        return;
    }
    let scenario = Scenario::start(hardened);
    let first = scenario.sdk_credentials(imds_v1_disabled);
    assert_genuine(&first);

    let log = scenario.admin("GET", "/requests");
    let log = log.as_array().unwrap();
    assert!(
        log.iter().any(|r| r["method"] == "PUT"
            && r["path"] == "/latest/api/token"
            && r["status"] == 200),
        "SDK fetched a token: {log:?}"
    );
    let creds_path = format!("/latest/meta-data/ram/security-credentials/{DEFAULT_ROLE}");
    let fetch = log
        .iter()
        .find(|r| r["path"] == creds_path.as_str())
        .expect("credentials fetched");
    assert_eq!(fetch["status"], 200);
    assert_eq!(fetch["token"], "valid", "SDK sent the token it got");
    if hardened == "required" {
        assert!(
            log.iter().all(|r| r["status"] == 200),
            "no request refused: {log:?}"
        );
    }

    let rotated = scenario.admin("POST", "/rotate");
    let second = scenario.sdk_credentials(imds_v1_disabled);
    assert_genuine(&second);
    assert_ne!(second.0, first.0, "rotated credentials seen");
    assert_eq!(rotated["access_key_id"], second.0.as_str());
}

#[test]
fn official_python_sdk_optional_mode() {
    run_python_case("optional", false);
}

#[test]
fn official_python_sdk_required_mode_with_imdsv1_disabled() {
    run_python_case("required", true);
}

fn run_node_case(hardened: &str, imds_v1_disabled: bool) {
    if !testing::privileged_or_skip("network namespace with 100.100.100.200 for the official SDK") {
        return;
    }
    let node_dir = testing::node_packages(NODE_PACKAGES).expect("npm packages");
    let scenario = Scenario::start(hardened);
    let first = scenario.node_credentials(&node_dir, imds_v1_disabled);
    assert_genuine(&first);
    let log = scenario.admin("GET", "/requests");
    let creds_path = format!("/latest/meta-data/ram/security-credentials/{DEFAULT_ROLE}");
    let fetch = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == creds_path.as_str())
        .expect("credentials fetched");
    assert_eq!(fetch["token"], "valid", "Node SDK sent the token it got");
    let rotated = scenario.admin("POST", "/rotate");
    let second = scenario.node_credentials(&node_dir, imds_v1_disabled);
    assert_genuine(&second);
    assert_eq!(
        rotated["access_key_id"],
        second.0.as_str(),
        "rotated credentials seen"
    );
}

#[test]
fn official_node_sdk_optional_mode() {
    run_node_case("optional", false);
}

#[test]
fn official_node_sdk_required_mode_with_imdsv1_disabled() {
    run_node_case("required", true);
}
