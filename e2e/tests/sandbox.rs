//! `acr-conformance sandbox` as a developer uses it: start it, wait for its env file, reach both
//! fakes with curl through the env file's settings (and, as root, inside its network namespace),
//! see the reference refresher at work, press Ctrl-C, and find nothing left: no process, no
//! namespace, no open port, no directory, no env file. Also `--scenario`, a bad scenario ID, and a
//! control plane from envtest's layout (`KUBEBUILDER_ASSETS`) with no Go toolchain in reach.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The control plane may have to be built first (minutes on a cold machine).
const ENV_FILE_DEADLINE: Duration = Duration::from_secs(20 * 60);
/// From SIGINT to exit: the control plane's components get 10 s each to stop.
const STOP_DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

struct Sandbox {
    child: Child,
    stderr: PathBuf,
    env_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sandbox {
    fn start(args: &[&str]) -> Sandbox {
        Self::start_with(args, &[])
    }

    fn start_with(args: &[&str], env: &[(&str, &Path)]) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let env_file = dir.path().join("out").join("sandbox.env");
        let stderr = dir.path().join("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_acr-conformance"))
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .arg("sandbox")
            .arg("--env-file")
            .arg(&env_file)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("acr-conformance starts");
        Sandbox {
            child,
            stderr,
            env_file,
            _dir: dir,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The env file's variables, once it exists.
    fn wait_for_env_file(&mut self) -> BTreeMap<String, String> {
        let deadline = Instant::now() + ENV_FILE_DEADLINE;
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.env_file) {
                return parse_env_file(&text);
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "the sandbox exited ({status}) before writing its env file:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no env file within {ENV_FILE_DEADLINE:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(POLL);
        }
    }

    /// SIGINT, then the exit status.
    fn interrupt(&mut self) -> std::process::ExitStatus {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid"),
            rustix::process::Signal::INT,
        )
        .expect("SIGINT");
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {STOP_DEADLINE:?} after SIGINT:\n{}",
                self.stderr()
            );
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // A failed test must not leave a sandbox running: SIGINT cleans up, SIGKILL if ignored.
        if self.child.try_wait().ok().flatten().is_none() {
            let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid");
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
            let deadline = Instant::now() + STOP_DEADLINE;
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `KEY='value'` lines as `sh` reads them.
fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=value: {l}"));
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or_else(|| panic!("not single-quoted: {l}"));
            (k.to_string(), v.replace(r"'\''", "'"))
        })
        .collect()
}

/// Every process below `pid` (children of every thread, recursively).
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("curl runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `curl -w %{http_code}` of an HTTPS request to fake-acr through the env file's settings.
fn registry_status(vars: &BTreeMap<String, String>, prefix: &[&str], host_url: &str) -> String {
    let resolve: Vec<&str> = vars["ACR_SANDBOX_CURL_RESOLVE"].split(' ').collect();
    let mut args: Vec<&str> = prefix.to_vec();
    args.extend(["-o", "/dev/null", "-w", "%{http_code}", "--cacert"]);
    args.push(&vars["ACR_SANDBOX_CA_FILE"]);
    args.extend(resolve);
    args.push(host_url);
    let (code, err) = curl(&args);
    assert!(err.is_empty(), "curl {args:?}: {err}");
    code
}

fn port_of(url_or_addr: &str) -> SocketAddr {
    let rest = url_or_addr
        .split_once("://")
        .map_or(url_or_addr, |(_, r)| r);
    rest.trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{url_or_addr}: not IP:PORT: {e}"))
}

#[test]
fn sandbox_serves_both_fakes_through_its_env_file_and_leaves_nothing_after_ctrl_c() {
    let mut sandbox = Sandbox::start(&["--with-reference"]);
    let vars = sandbox.wait_for_env_file();
    let pid = sandbox.child.id();
    let stderr = sandbox.stderr();
    assert!(stderr.contains("sandbox: up."), "{stderr}");

    // fake-metadata, as a process on this machine reaches it.
    let (region, err) = curl(&[&format!(
        "{}/latest/meta-data/region-id",
        vars["ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT"]
    )]);
    assert_eq!((region.as_str(), err.as_str()), ("cn-hangzhou", ""));
    // fake-acr under its real host name: TLS verified against the CA file, the name resolved
    // by the env file's --resolve lines; a registry without a token answers 401.
    let url = format!(
        "https://registry.cn-hangzhou.aliyuncs.com:{}/v2/",
        vars["ACR_SANDBOX_ACR_PORT"]
    );
    assert_eq!(registry_status(&vars, &[], &url), "401");
    // Through the proxy, on port 443 as a client would use it.
    let (code, err) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--proxy",
        &vars["ACR_SANDBOX_PROXY"],
        "--cacert",
        &vars["ACR_SANDBOX_CA_FILE"],
        "https://demo-hz-registry.cn-hangzhou.cr.aliyuncs.com/v2/",
    ]);
    assert_eq!((code.as_str(), err.as_str()), ("401", ""));
    // The admin APIs saw those requests.
    let (log, _) = curl(&[&format!("{}/log", vars["ACR_SANDBOX_ACR_ADMIN"])]);
    assert!(
        log.contains("demo-hz-registry.cn-hangzhou.cr.aliyuncs.com"),
        "{log}"
    );
    let (requests, _) = curl(&[&format!("{}/requests", vars["ACR_SANDBOX_METADATA_ADMIN"])]);
    assert!(
        requests.contains("/latest/meta-data/region-id"),
        "{requests}"
    );

    // As root: inside the namespace, the real addresses.
    let netns = vars.get("ACR_SANDBOX_NETNS").cloned();
    if let Some(ns) = &netns {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "curl", "-sS", "--max-time", "20"])
            .arg("http://100.100.100.200/latest/meta-data/region-id")
            .output()
            .expect("ip netns exec curl");
        let (region, err) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!((region.as_ref(), err.as_ref()), ("cn-hangzhou", ""));
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "curl", "-sS", "--max-time", "20"])
            .args(["-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&vars["ACR_SANDBOX_CA_FILE"])
            .arg("https://cr.cn-beijing.aliyuncs.com/")
            .output()
            .expect("ip netns exec curl");
        let code = String::from_utf8_lossy(&out.stdout);
        assert!(
            code.starts_with('4'),
            "unsigned OpenAPI call inside {ns}: {code} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(
            !rustix::process::geteuid().is_root(),
            "as root the sandbox runs in a network namespace"
        );
    }

    // The reference refresher works against the sandbox: it asks fake-metadata for credentials.
    let log = PathBuf::from(&vars["ACR_SANDBOX_REFERENCE_LOG"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (requests, _) = curl(&[&format!("{}/requests", vars["ACR_SANDBOX_METADATA_ADMIN"])]);
        if requests.contains("/ram/security-credentials/") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reference refresher never asked fake-metadata for credentials; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(POLL);
    }

    // What must be gone afterwards.
    let children = descendants(pid);
    assert!(
        children.len() >= 4,
        "control plane (3) and reference refresher below the sandbox: {children:?}"
    );
    let ports: Vec<SocketAddr> = [
        "ACR_SANDBOX_APISERVER",
        "ACR_SANDBOX_METADATA_URL",
        "ACR_SANDBOX_METADATA_ADMIN",
        "ACR_SANDBOX_ACR_ADDRESS",
        "ACR_SANDBOX_ACR_ADMIN",
        "ACR_SANDBOX_PROXY",
    ]
    .iter()
    .map(|k| port_of(&vars[*k]))
    .collect();
    let dirs: Vec<PathBuf> = [
        // <control plane dir>/users/<n>-<user>.kubeconfig
        Path::new(&vars["KUBECONFIG"]).ancestors().nth(2),
        Path::new(&vars["ACR_SANDBOX_CA_FILE"]).parent(),
    ]
    .into_iter()
    .map(|d| d.expect("a parent directory").to_path_buf())
    .collect();
    for dir in &dirs {
        assert!(
            dir.is_dir(),
            "{} exists while the sandbox runs",
            dir.display()
        );
    }

    let status = sandbox.interrupt();
    let stderr = sandbox.stderr();
    assert!(status.success(), "{status}:\n{stderr}");
    assert!(stderr.contains("SIGINT: stopping"), "{stderr}");
    let left: Vec<u32> = children.into_iter().filter(|&p| running(p)).collect();
    assert!(
        left.is_empty(),
        "processes left running: {left:?}\n{stderr}"
    );
    for addr in ports {
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
            "{addr} still accepts connections"
        );
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    assert!(
        !sandbox.env_file.exists(),
        "the env file outlived the sandbox"
    );
    assert!(
        !sandbox.env_file.parent().expect("parent").exists(),
        "the env file's directory, made by the sandbox, outlived it"
    );
    if let Some(ns) = netns {
        assert!(
            !Path::new("/var/run/netns").join(&ns).exists(),
            "netns {ns} left"
        );
        assert!(
            !Path::new("/etc/netns").join(&ns).exists(),
            "/etc/netns/{ns} left"
        );
    }
}

#[test]
fn sandbox_scenario_prepares_the_fakes_and_configmap_as_the_scenario_does() {
    let mut sandbox = Sandbox::start(&["--scenario", "tr1", "--network", "override"]);
    let vars = sandbox.wait_for_env_file();
    assert_eq!(vars["ACR_SANDBOX_SCENARIO"], "TR1");
    assert!(!vars.contains_key("ACR_SANDBOX_NETNS"), "override mode");
    // TR1 shortens fake-acr's token lifetime and sets expiring-threshold in the ConfigMap.
    let (settings, err) = curl(&[&format!("{}/settings", vars["ACR_SANDBOX_ACR_ADMIN"])]);
    assert!(err.is_empty(), "{err}");
    let lifetime = settings
        .split("token_lifetime_secs")
        .nth(1)
        .and_then(|rest| {
            rest.trim_start_matches(|c: char| !c.is_ascii_digit())
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or_else(|| panic!("no token_lifetime_secs in {settings}"));
    assert!(
        lifetime < 3600,
        "TR1's lifetime, not the default: {lifetime}"
    );
    let stderr = sandbox.stderr();
    assert!(
        stderr.contains("ConfigMap kube-system/acr-configuration as TR1:")
            && stderr.contains("expiring-threshold:"),
        "{stderr}"
    );
    let out = Command::new("kubectl")
        .args(["get", "configmap", "-n", "kube-system", "acr-configuration"])
        .args(["-o", "jsonpath={.data.expiring-threshold}"])
        .env("KUBECONFIG", &vars["KUBECONFIG"])
        .output();
    // kubectl is optional on a developer machine; where it exists, the ConfigMap is really there.
    if let Ok(out) = out {
        let threshold = String::from_utf8_lossy(&out.stdout);
        assert!(
            threshold.ends_with('s')
                && stderr.contains(&format!("expiring-threshold: {threshold}")),
            "ConfigMap says {threshold:?}; {}\n{stderr}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(sandbox.interrupt().success(), "{}", sandbox.stderr());
}

#[test]
fn an_unknown_scenario_is_refused_before_anything_starts() {
    let mut sandbox = Sandbox::start(&["--scenario", "XX9"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = sandbox.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running:\n{}",
            sandbox.stderr()
        );
        std::thread::sleep(POLL);
    };
    let stderr = sandbox.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--scenario \"XX9\": no such scenario")
            && !stderr.contains("control plane"),
        "{stderr}"
    );
}

/// envtest's layout made from kubeplane's subcommands: `kube-apiserver` passes its flags through,
/// `etcd` takes upstream etcd's flags (`--listen-client-urls`, …) and hands kubeplane its own.
fn envtest_layout(dir: &Path, kubeplane: &Path) {
    let k = kubeplane.display();
    let apiserver = format!("#!/bin/sh\nexec '{k}' apiserver \"$@\"\n");
    let etcd = format!(
        "#!/bin/sh\nset --  $(for a in \"$@\"; do case \"$a\" in\n  \
         --data-dir=*) echo \"$a\" ;;\n  \
         --listen-client-urls=*) echo \"--listen-client-url=${{a#*=}}\" ;;\n  \
         --listen-peer-urls=*) echo \"--listen-peer-url=${{a#*=}}\" ;;\n\
         esac; done)\nexec '{k}' etcd \"$@\"\n"
    );
    for (name, text) in [("kube-apiserver", apiserver), ("etcd", etcd)] {
        acr_conformance::spawn::write_executable(&dir.join(name), &text).expect("write wrapper");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn envtest_binaries_need_no_go_build_and_the_suite_does_the_controller_duties() {
    use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
    use kube::api::{Api, DeleteParams, PostParams};

    let kubeplane = tokio::task::spawn_blocking(acr_conformance::cluster::ensure_kubeplane)
        .await
        .expect("join")
        .expect("kubeplane for the fake envtest layout");
    let assets = tempfile::tempdir().expect("temp dir");
    envtest_layout(assets.path(), &kubeplane);
    // No Go toolchain and an empty cache: any attempt to build kubeplane fails at once.
    let empty_cache = tempfile::tempdir().expect("temp dir");
    let mut sandbox = Sandbox::start_with(
        &["--network", "override"],
        &[
            ("KUBEBUILDER_ASSETS", assets.path()),
            ("XDG_CACHE_HOME", empty_cache.path()),
            ("PATH", Path::new("/usr/bin:/bin")),
        ],
    );
    let vars = tokio::task::block_in_place(|| sandbox.wait_for_env_file());
    assert!(
        std::fs::read_dir(empty_cache.path())
            .expect("cache dir")
            .next()
            .is_none(),
        "nothing was built into the cache"
    );
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&vars["KUBECONFIG"]).expect("kubeconfig"),
        &Default::default(),
    )
    .await
    .expect("config");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_from(config).expect("client");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "envtest-duties"}
    }))
    .expect("namespace");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    // The serviceaccount controller's duty, within the catalogue's 2 s.
    let created = Instant::now();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "envtest-duties");
    while sas.get_opt("default").await.expect("get sa").is_none() {
        assert!(
            created.elapsed() < Duration::from_secs(2),
            "no default ServiceAccount within 2 s"
        );
        tokio::time::sleep(POLL).await;
    }
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "left-behind"}, "stringData": {"a": "b"}
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), "envtest-duties")
        .create(&PostParams::default(), &secret)
        .await
        .expect("create secret");
    // The namespace controller's duty: emptied, finalized, gone.
    namespaces
        .delete("envtest-duties", &DeleteParams::default())
        .await
        .expect("delete namespace");
    let deadline = Instant::now() + Duration::from_secs(20);
    while namespaces
        .get_opt("envtest-duties")
        .await
        .expect("get namespace")
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "namespace still there after 20 s"
        );
        tokio::time::sleep(POLL).await;
    }
    let secrets: Api<Secret> = Api::all(client);
    let left = secrets
        .list(&Default::default())
        .await
        .expect("list secrets");
    assert!(
        !left
            .items
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some("left-behind")),
        "the deleted namespace's Secret outlived it"
    );
    let status = tokio::task::block_in_place(|| sandbox.interrupt());
    assert!(status.success(), "{}", sandbox.stderr());
}
