//! A real container runtime pulls from fake-acr with kind mode's registry configuration.
//!
//! fake-acr runs in-process (default settings) on port 443 of the host end of a veth pair whose
//! other end is in a network namespace made for this test; `/etc/netns/<ns>/hosts` maps every
//! Alibaba host name fake-acr serves to it, and nothing else is reachable from the namespace.
//! Inside, a private containerd (own root, state, socket and config under a temp dir) and `ctr`
//! pull with `--hosts-dir` pointing at the `hosts.toml` files `e2e/kind/containerd-hosts.sh`
//! writes — the files kind nodes get — so the real resolver, token flow and unpacker of containerd
//! judge fake-acr's registry.
//!
//! Registry passwords are minted with fake-acr's own keys (`fake_acr::tokens`, exactly what
//! `GetAuthorizationToken` returns; the OpenAPI flow is fake-acr's tests' business). A password
//! of the right scope pulls and unpacks the image; no password, and a password of another region
//! or instance, are refused with 401.
//!
//! Needs root, `ip`, `containerd` and `ctr` (Debian package `containerd`): otherwise `SKIPPED`,
//! or a failure when `ACR_REQUIRE_PRIVILEGED_TESTS=1` (CI). Passwords only ever go to `ctr`'s
//! argv; command lines and output in messages show them as `<redacted>`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fake_acr::tokens::{PasswordClaims, TEMP_USERNAME, TokenKeys, TokenScope};
use fake_metadata::testing::{self, ChildGuard, NetNs};

const PERSONAL_IMAGE: &str = "registry.cn-hangzhou.aliyuncs.com/demo/private-app:latest";
const EE_IMAGE: &str = "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com/team/private-app:latest";
const EE_INSTANCE: &str = "cri-hzdemo0000000001";
const OTHER_EE_INSTANCE: &str = "cri-bjdemo0000000001";
/// The platform unpacked, whatever the machine (fake-acr serves amd64, and arm64 in an index).
const PLATFORM: &str = "linux/amd64";
/// Where the CA certificate lives in the temp dir, as containerd-hosts.sh writes it into hosts.toml.
const CA_FILE: &str = "fake-acr-ca.pem";
/// Longest wait for containerd to answer, and for one `ctr` command.
const DEADLINE: Duration = Duration::from_secs(120);

/// True when `containerd` and `ctr` can run; otherwise prints `SKIPPED (no containerd): …` and
/// returns false, or panics when `ACR_REQUIRE_PRIVILEGED_TESTS=1`.
fn containerd_or_skip() -> bool {
    let runs = |program: &str| {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let missing: Vec<&str> = ["containerd", "ctr"]
        .into_iter()
        .filter(|p| !runs(p))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "SKIPPED (no containerd): containerd pull needs {} (Debian package containerd)",
        missing.join(" and ")
    );
    if std::env::var(testing::REQUIRE_PRIVILEGED_ENV).is_ok_and(|v| v == "1") {
        panic!(
            "{message} — but {}=1 requires it to run",
            testing::REQUIRE_PRIVILEGED_ENV
        );
    }
    eprintln!("{message}");
    false
}

/// `/etc/netns/<ns>/`, which `ip netns exec` binds over `/etc/`; removed on drop.
struct NetnsEtc {
    dir: PathBuf,
}

impl NetnsEtc {
    fn write_hosts(netns: &NetNs, address: Ipv4Addr, hosts: &[String]) -> Self {
        let dir = Path::new("/etc/netns").join(netns.name());
        std::fs::create_dir_all(&dir).expect("creating /etc/netns/<ns>");
        let guard = Self { dir };
        let mut text = String::from("127.0.0.1 localhost\n");
        for host in hosts {
            text.push_str(&format!("{address} {host}\n"));
        }
        std::fs::write(guard.dir.join("hosts"), text).expect("writing /etc/netns/<ns>/hosts");
        guard
    }
}

impl Drop for NetnsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The /30 of a veth pair for this process: in 198.18.0.0/15 (RFC 2544, never routed), so it
/// collides with nothing real; (host end, namespace end).
fn veth_addresses() -> (Ipv4Addr, Ipv4Addr) {
    let block = (std::process::id() % 16_384) * 4;
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + block;
    (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
}

/// A veth pair between the host and `netns`, both ends up; it goes away with the namespace.
fn link_to_host(netns: &NetNs) -> Ipv4Addr {
    let id = std::process::id() % 100_000;
    let (host_if, ns_if) = (format!("ctd{id}h"), format!("ctd{id}n"));
    let (host_ip, ns_ip) = veth_addresses();
    let ip = |args: &[&str]| {
        testing::run(Command::new("ip").args(args)).unwrap_or_else(|e| panic!("ip {args:?}: {e}"))
    };
    // Created with its peer already inside the namespace: deleting the namespace deletes both.
    ip(&[
        "link",
        "add",
        &host_if,
        "type",
        "veth",
        "peer",
        "name",
        &ns_if,
        "netns",
        netns.name(),
    ]);
    ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
    ip(&["link", "set", &host_if, "up"]);
    ip(&[
        "-n",
        netns.name(),
        "addr",
        "add",
        &format!("{ns_ip}/30"),
        "dev",
        &ns_if,
    ]);
    ip(&["-n", netns.name(), "link", "set", &ns_if, "up"]);
    host_ip
}

/// Registry credentials for `ctr --user`; Debug and messages never show the password.
struct RegistryLogin {
    password: String,
}

impl RegistryLogin {
    /// A password of `scope` for `principal`, valid for an hour of fake-acr's clock.
    fn mint(lab: &Lab, scope: TokenScope, principal: &str) -> Self {
        let expires_ms = lab.acr.admin().now().as_millisecond() + 3_600_000;
        let password = TokenKeys::new(&lab.account_secret).issue_password(&PasswordClaims {
            scope,
            time: expires_ms.to_string(),
            kind: "sub".into(),
            user_id: principal.into(),
        });
        Self { password }
    }

    /// A Personal Edition password for `region`, as a RAM user gets it.
    fn personal(lab: &Lab, region: &str) -> Self {
        let scope = TokenScope::Personal {
            region: region.into(),
        };
        Self::mint(lab, scope, "user/ci")
    }

    /// An Enterprise Edition password for `instance`, as a node's RAM role gets it.
    fn enterprise(lab: &Lab, instance: &str) -> Self {
        let scope = TokenScope::Instance {
            instance_id: instance.into(),
        };
        Self::mint(lab, scope, "role/KubernetesWorkerRole-fake")
    }

    fn user_arg(&self) -> String {
        format!("{TEMP_USERNAME}:{}", self.password)
    }
}

/// What a `ctr` command did, passwords redacted.
struct CtrResult {
    success: bool,
    command: String,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for CtrResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            if self.success { "succeeded" } else { "failed" },
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Everything the test sets up; fields drop in order: containerd, fake-acr, hosts file,
/// namespace (and veth pair), temp dir.
struct Lab {
    _containerd: ChildGuard,
    acr: fake_acr::Running,
    account_secret: String,
    _etc: NetnsEtc,
    netns: NetNs,
    dir: tempfile::TempDir,
}

impl Lab {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let netns = NetNs::create("ctrd").expect("network namespace");
        let host_ip = link_to_host(&netns);
        let settings = fake_acr::Settings {
            listen: SocketAddr::from((host_ip, 443)),
            ..fake_acr::Settings::default()
        };
        let account_secret = settings.account_secret.clone();
        let acr = fake_acr::FakeAcr::start(settings)
            .await
            .expect("fake-acr starts on the host end of the veth pair");
        let hosts = acr.hosts();
        let etc = NetnsEtc::write_hosts(&netns, host_ip, &hosts);

        // kind mode's registry configuration, by the script run.sh uses.
        let ca = dir.path().join(CA_FILE);
        std::fs::write(&ca, acr.ca_pem()).expect("writing the CA");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("kind/containerd-hosts.sh");
        testing::run(
            Command::new("sh")
                .arg(&script)
                .arg(dir.path().join("certs.d"))
                .arg(&ca)
                .args(&hosts),
        )
        .expect("containerd-hosts.sh");

        let config = dir.path().join("config.toml");
        let d = dir.path().display();
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
                 # Only ctr talks to this containerd: no CRI (no CNI, no kubelet); the native\n\
                 # snapshotter works on any file system, so no others.\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\", \
                 \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.snapshotter.v1.btrfs\", \
                 \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.zfs\"]\n\
                 [grpc]\n  address = \"{d}/containerd.sock\"\n\
                 [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
                 [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n"
            ),
        )
        .expect("writing containerd's config");
        let mut command = netns.command("containerd");
        command
            .arg("--config")
            .arg(&config)
            .args(["--log-level", "warn"])
            .env("TMPDIR", dir.path());
        let containerd = ChildGuard::spawn("containerd", command).expect("starting containerd");
        let lab = Self {
            _containerd: containerd,
            acr,
            account_secret,
            _etc: etc,
            netns,
            dir,
        };
        lab.wait_for_containerd().await;
        lab
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    async fn wait_for_containerd(&self) {
        let start = Instant::now();
        loop {
            let r = self.ctr(&["version"], None).await;
            if r.success {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "containerd did not answer within {DEADLINE:?}: {r}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `ctr -a <socket> ARGS` in the namespace; `login`'s password is redacted from the
    /// command line and output kept for messages.
    async fn ctr(&self, args: &[&str], login: Option<&RegistryLogin>) -> CtrResult {
        let redact = |text: &str| match login {
            Some(l) => text.replace(&l.password, "<redacted>"),
            None => text.to_owned(),
        };
        let mut command = self.netns.command("ctr");
        command.arg("-a").arg(self.socket()).args(args);
        let shown = redact(&format!(
            "ctr -a {} {}",
            self.socket().display(),
            args.join(" ")
        ));
        command
            .env_remove("CONTAINERD_SNAPSHOTTER")
            .stdin(Stdio::null());
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        let output: Output = tokio::time::timeout(DEADLINE, command.output())
            .await
            .unwrap_or_else(|_| panic!("`{shown}` did not finish within {DEADLINE:?}"))
            .unwrap_or_else(|e| panic!("`{shown}`: cannot run: {e}"));
        CtrResult {
            success: output.status.success(),
            command: shown,
            stdout: redact(&String::from_utf8_lossy(&output.stdout)),
            stderr: redact(&String::from_utf8_lossy(&output.stderr)),
        }
    }

    /// `ctr images pull` with kind mode's hosts.toml files, native snapshotter, one platform.
    async fn pull(&self, image: &str, login: Option<&RegistryLogin>) -> CtrResult {
        let hosts_dir = self.dir.path().join("certs.d");
        let hosts_dir = hosts_dir.to_string_lossy();
        let user = login.map(RegistryLogin::user_arg);
        let mut args = vec!["images", "pull", "--hosts-dir", &hosts_dir];
        if let Some(user) = &user {
            args.extend(["--user", user.as_str()]);
        }
        args.extend([
            "--snapshotter",
            "native",
            "--platform",
            PLATFORM,
            "--print-chainid",
            image,
        ]);
        self.ctr(&args, login).await
    }

    /// The image references containerd holds.
    async fn images(&self) -> Vec<String> {
        let r = self.ctr(&["images", "ls", "-q"], None).await;
        assert!(r.success, "{r}");
        r.stdout.lines().map(str::to_owned).collect()
    }

    /// Whether fake-acr refused a request at `host` (not the client or the network).
    fn refused_at(&self, host: &str) -> bool {
        self.acr
            .admin()
            .log()
            .iter()
            .any(|e| e.host == host && e.result == "UNAUTHORIZED")
    }

    /// Asserts a pull failed with an authorization error that fake-acr gave at `host`.
    async fn assert_refused(&self, image: &str, login: Option<&RegistryLogin>, host: &str) {
        self.acr.admin().clear_log();
        let r = self.pull(image, login).await;
        assert!(!r.success, "expected a refusal: {r}");
        // ctr's own verdict (its log lines before it may show fallbacks it tried).
        let verdict = r
            .stderr
            .lines()
            .rfind(|l| l.starts_with("ctr: "))
            .unwrap_or_default();
        assert!(
            verdict.contains("401 Unauthorized"),
            "expected an authorization error: {r}"
        );
        assert!(
            self.refused_at(host),
            "fake-acr logged no refusal at {host}: {r}"
        );
    }

    /// Asserts a pull succeeded and unpacked: listed, and its chain's snapshot committed.
    async fn assert_pulled(&self, image: &str, login: &RegistryLogin) {
        let r = self.pull(image, Some(login)).await;
        assert!(r.success, "pull of {image} failed: {r}");
        let chain_id = r
            .stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("image chain ID: "))
            .unwrap_or_else(|| panic!("no chain ID printed, so nothing was unpacked: {r}"))
            .trim()
            .to_owned();
        assert!(
            self.images().await.iter().any(|i| i == image),
            "{image} not listed by ctr images ls"
        );
        let snapshots = self
            .ctr(&["snapshots", "--snapshotter", "native", "ls"], None)
            .await;
        assert!(
            snapshots
                .stdout
                .lines()
                .any(|l| l.starts_with(&chain_id) && l.contains("Committed")),
            "no committed snapshot {chain_id} (image not unpacked): {snapshots}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_pulls_from_fake_acr_with_the_kind_registry_configuration() {
    if !testing::privileged_or_skip(
        "containerd pull runs a private containerd in a network namespace",
    ) || !containerd_or_skip()
    {
        return;
    }
    let started = Instant::now();
    let lab = Lab::start().await;
    eprintln!("containerd pull: lab ready in {:?}", started.elapsed());
    let hz = RegistryLogin::personal(&lab, "cn-hangzhou");
    let bj = RegistryLogin::personal(&lab, "cn-beijing");
    let ee_hz = RegistryLogin::enterprise(&lab, EE_INSTANCE);
    let ee_bj = RegistryLogin::enterprise(&lab, OTHER_EE_INSTANCE);
    let personal_registry = "registry.cn-hangzhou.aliyuncs.com";
    let ee_registry = "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com";
    // Both editions' realm in cn-hangzhou.
    let token_service = "dockerauth.cn-hangzhou.aliyuncs.com";

    // Refusals first, while nothing is cached locally: no password, then one of another
    // region (Personal) or instance (EE).
    lab.assert_refused(PERSONAL_IMAGE, None, personal_registry)
        .await;
    lab.assert_refused(PERSONAL_IMAGE, Some(&bj), token_service)
        .await;
    lab.assert_refused(EE_IMAGE, None, ee_registry).await;
    lab.assert_refused(EE_IMAGE, Some(&ee_bj), token_service)
        .await;
    assert_eq!(
        lab.images().await,
        Vec::<String>::new(),
        "nothing pulled yet"
    );

    lab.assert_pulled(PERSONAL_IMAGE, &hz).await;
    lab.assert_pulled(EE_IMAGE, &ee_hz).await;
    // Content already pulled is no way around authorization: the registry is asked again.
    lab.assert_refused(PERSONAL_IMAGE, None, personal_registry)
        .await;
    eprintln!("containerd pull: done in {:?}", started.elapsed());
}
