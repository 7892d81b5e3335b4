//! The credential-only subcommands as docker and kubelet run them: the built binary, one
//! process per question, against fake-metadata and fake-acr in-process (the conformance
//! suite's `Clouds`: fresh account secret, CA file, host-routing proxy). Tokens are judged by
//! pulling a private image with them (the suite's OCI pull probe). The helper's token cache goes
//! to a directory of the test's own (`--cache-dir`), never to the user's `~/.cache`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use acr_conformance::clouds::{Clouds, FakesSource, default_plan};
use acr_conformance::probe::{Credential, PullProbe};
use acr_conformance::scenarios::images::{EE_HZ, EE_HZ_ID, PE_HZ, PE_HZ_VPC};
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_acr-refresher");
const NOT_FOUND: &str = "credentials not found in native keychain";

struct World {
    clouds: Clouds,
    _dir: tempfile::TempDir,
}

async fn world(token_lifetime_secs: u64) -> World {
    // Several rustls providers are compiled into the test binary: pick one for the probe.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (mut acr, metadata) = default_plan("cn-hangzhou");
    acr.token_lifetime_secs = token_lifetime_secs;
    let clouds = Clouds::start(&FakesSource::InProcess, acr, metadata, dir.path())
        .await
        .expect("fakes start");
    World { clouds, _dir: dir }
}

impl World {
    /// The helper's `--cache-dir` (not created until the first fetch).
    fn cache_dir(&self) -> PathBuf {
        self._dir.path().join("cache/acr-credential-helper")
    }

    fn cache_file(&self) -> PathBuf {
        self.cache_dir().join("cache.json")
    }

    /// Lets `by` pass for the helper's cache alone: every time it recorded (expiry, fetch, last
    /// renewal attempt) moves back by `by`. The helper judges renewal from those times and the
    /// clock, so this is its clock moved forward — no wall-clock window a loaded machine could
    /// miss. The file keeps its 0600 mode (rewritten in place).
    fn age_cache(&self, by: Duration) {
        use acr_refresher::credential_source::token_file::CacheContents;
        let path = self.cache_file();
        let text = std::fs::read_to_string(&path).expect("the helper wrote its cache");
        let mut cache: CacheContents = serde_json::from_str(&text).expect("cache layout");
        let by = jiff::SignedDuration::try_from(by).unwrap();
        for token in &mut cache.tokens {
            token.expires_at -= by;
            token.fetched_at -= by;
            token.last_attempt_at = token.last_attempt_at.map(|at| at - by);
        }
        std::fs::write(&path, serde_json::to_vec(&cache).unwrap()).unwrap();
    }

    async fn token_call_count(&self) -> usize {
        self.clouds.token_calls().await.unwrap().len()
    }

    /// `acr-refresher <subcommand> <flags pointing at the fakes> <tail…>`; the helper also gets
    /// `--cache-dir` [`World::cache_dir`].
    fn argv(&self, subcommand: &str, tail: &[&str]) -> Vec<String> {
        let port = self
            .clouds
            .acr_address()
            .rsplit_once(':')
            .unwrap()
            .1
            .to_owned();
        let resolve: Vec<String> = self
            .clouds
            .acr_hosts()
            .iter()
            .map(|h| format!("{h}=127.0.0.1"))
            .collect();
        let mut argv = vec![
            subcommand.to_owned(),
            "--metadata-endpoint".into(),
            self.clouds.metadata_url(),
            "--ca-file".into(),
            self.clouds.ca_file().display().to_string(),
            "--endpoint-template".into(),
            format!("https://cr.{{region}}.aliyuncs.com:{port}"),
            "--resolve".into(),
            resolve.join(","),
        ];
        if subcommand == "credential-helper" {
            argv.push("--cache-dir".into());
            argv.push(self.cache_dir().display().to_string());
        }
        argv.extend(tail.iter().map(|s| s.to_string()));
        argv
    }

    /// Does `image` pull with exactly this credential?
    async fn pulls(&self, image: &str, username: &str, password: &str) -> bool {
        // The probe's pull needs no cluster; its Kubernetes client is never used here.
        let kube = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap()))
            .unwrap();
        let probe = PullProbe::new(kube, self.clouds.registry_access());
        let credential = Credential {
            key: acr_conformance::adapter::registry_host(image),
            username: username.into(),
            password: password.into(),
        };
        probe
            .credentials(image, vec![credential])
            .await
            .unwrap()
            .pulled_with_credentials()
    }
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn run_program(program: &Path, argv: &[String], stdin: &str) -> Output {
    let mut child = tokio::process::Command::new(program)
        .args(argv)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A program that refuses its arguments may exit before reading: its pipe then breaks, and
    // its exit status and stderr (asserted by the caller) are the answer.
    match input.write_all(stdin.as_bytes()).await {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing stdin: {e}"),
        _ => {}
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("answers within 30 s")
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

async fn run(argv: &[String], stdin: &str) -> Output {
    run_program(Path::new(BIN), argv, stdin).await
}

#[derive(serde::Deserialize)]
struct HelperAnswer {
    #[serde(rename = "ServerURL")]
    server_url: String,
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

fn helper_answer(out: &Output) -> HelperAnswer {
    assert_eq!(
        out.code, 0,
        "stdout {:?} stderr {:?}",
        out.stdout, out.stderr
    );
    let answer: HelperAnswer = serde_json::from_str(&out.stdout).expect("get answer is JSON");
    assert!(!answer.username.is_empty() && !answer.secret.is_empty());
    assert!(
        !out.stderr.contains(&answer.secret),
        "the secret reached stderr"
    );
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_get_for_a_personal_edition_host_prints_a_token_that_pulls() {
    let w = world(3600).await;
    let argv = w.argv("credential-helper", &["get"]);
    let answer = helper_answer(&run(&argv, "registry.cn-hangzhou.aliyuncs.com\n").await);
    assert_eq!(answer.server_url, "registry.cn-hangzhou.aliyuncs.com");
    assert!(w.pulls(PE_HZ, &answer.username, &answer.secret).await);
    // Docker may send a URL: the VPC host's token is the same region's Personal Edition token.
    let answer =
        helper_answer(&run(&argv, "https://registry-vpc.cn-hangzhou.aliyuncs.com/v2/").await);
    assert_eq!(
        answer.server_url,
        "https://registry-vpc.cn-hangzhou.aliyuncs.com/v2/"
    );
    assert!(w.pulls(PE_HZ_VPC, &answer.username, &answer.secret).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_get_for_an_enterprise_host_resolves_the_instance_by_name() {
    let w = world(3600).await;
    let argv = w.argv("credential-helper", &["get"]);
    let answer = helper_answer(&run(&argv, "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com").await);
    assert!(w.pulls(EE_HZ, &answer.username, &answer.secret).await);
    let calls = w.clouds.token_calls().await.unwrap();
    assert!(
        calls
            .iter()
            .any(|c| c.succeeded() && c.instance_id.as_deref() == Some(EE_HZ_ID)),
        "no token call for {EE_HZ_ID}: {calls:?}"
    );

    // An instance name the region does not have: an error naming host, name and region.
    let out = run(&argv, "nope-registry.cn-hangzhou.cr.aliyuncs.com").await;
    assert_eq!(out.code, 1, "{out:?}", out = out.stdout);
    for text in [&out.stdout, &out.stderr] {
        assert!(
            text.contains("no Enterprise Edition instance named 'nope' in region cn-hangzhou"),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_answers_not_found_for_other_hosts_and_is_read_only() {
    let w = world(3600).await;
    for server in [
        "https://index.docker.io/v1/",
        "quay.io",
        "registry.cn-hangzhou.aliyuncs.com:5000",
    ] {
        let out = run(&w.argv("credential-helper", &["get"]), server).await;
        assert_eq!((out.code, out.stdout.trim()), (1, NOT_FOUND), "{server}");
        assert!(
            out.stderr.contains("is not an ACR registry host"),
            "{}",
            out.stderr
        );
    }
    assert!(w.clouds.token_calls().await.unwrap().is_empty());

    let out = run(
        &w.argv("credential-helper", &["store"]),
        r#"{"ServerURL":"registry.cn-hangzhou.aliyuncs.com","Username":"u","Secret":"s3cr3t"}"#,
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("read-only"), "{}", out.stdout);
    assert!(!format!("{}{}", out.stdout, out.stderr).contains("s3cr3t"));
    let out = run(
        &w.argv("credential-helper", &["erase"]),
        "registry.cn-hangzhou.aliyuncs.com",
    )
    .await;
    assert_eq!(out.code, 0);
    let out = run(&w.argv("credential-helper", &["list"]), "").await;
    assert_eq!((out.code, out.stdout.trim()), (0, "{}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_as_docker_credential_acr_it_speaks_the_helper_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("docker-credential-acr");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let out = run_program(&link, &["get".to_string()], "docker.io").await;
    assert_eq!((out.code, out.stdout.trim()), (1, NOT_FOUND));
    let out = run_program(&link, &["list".to_string()], "").await;
    assert_eq!((out.code, out.stdout.trim()), (0, "{}"));
}

const PE_HOST: &str = "registry.cn-hangzhou.aliyuncs.com";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_answers_from_its_cache_until_the_token_enters_the_threshold() {
    let w = world(3600).await;
    let argv = w.argv(
        "credential-helper",
        &[
            "--expiring-threshold",
            "15m",
            "--min-renewal-interval",
            "1m",
            "get",
        ],
    );
    let first = helper_answer(&run(&argv, PE_HOST).await);
    assert_eq!(w.token_call_count().await, 1);
    // A second get within the token's life before the threshold: the cached token, no ACR call.
    let second = helper_answer(&run(&argv, PE_HOST).await);
    assert_eq!(second.secret, first.secret);
    assert_eq!(w.token_call_count().await, 1);
    // The VPC host of the same region shares the Personal Edition token.
    let vpc = helper_answer(&run(&argv, "registry-vpc.cn-hangzhou.aliyuncs.com").await);
    assert_eq!(vpc.secret, first.secret);
    assert_eq!(w.token_call_count().await, 1);
    // 44 minutes later, 16 of the token's 60 are left: still outside the threshold.
    w.age_cache(Duration::from_secs(44 * 60));
    assert_eq!(
        helper_answer(&run(&argv, PE_HOST).await).secret,
        first.secret
    );
    assert_eq!(w.token_call_count().await, 1);
    // 2 minutes more: 14 minutes left, inside the threshold: a new token.
    w.age_cache(Duration::from_secs(2 * 60));
    let third = helper_answer(&run(&argv, PE_HOST).await);
    assert_ne!(third.secret, first.secret);
    assert_eq!(w.token_call_count().await, 2);
    assert!(w.pulls(PE_HZ, &third.username, &third.secret).await);
    // The cache holds the password only in a private file in a private directory.
    assert_eq!(mode(&w.cache_dir()), 0o700);
    assert_eq!(mode(&w.cache_file()), 0o600);
    let text = std::fs::read_to_string(w.cache_file()).unwrap();
    assert!(text.contains(&third.secret) && !text.contains(&first.secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_renews_at_most_once_per_min_renewal_interval_when_the_threshold_exceeds_the_lifetime()
 {
    let w = world(3600).await;
    let argv = w.argv(
        "credential-helper",
        &[
            "--expiring-threshold",
            "2h",
            "--min-renewal-interval",
            "1m",
            "get",
        ],
    );
    let first = helper_answer(&run(&argv, PE_HOST).await);
    // Inside the threshold from the start, but fetched less than a minute ago: the same token.
    for _ in 0..3 {
        assert_eq!(
            helper_answer(&run(&argv, PE_HOST).await).secret,
            first.secret
        );
    }
    // Half a minute later (plus however long those gets took): still the same token.
    w.age_cache(Duration::from_secs(30));
    assert_eq!(
        helper_answer(&run(&argv, PE_HOST).await).secret,
        first.secret
    );
    assert_eq!(w.token_call_count().await, 1);
    // Over a minute after the fetch: renewed once, and the new token is held for the next minute.
    w.age_cache(Duration::from_secs(31));
    let renewed = helper_answer(&run(&argv, PE_HOST).await);
    assert_ne!(renewed.secret, first.secret);
    assert_eq!(
        helper_answer(&run(&argv, PE_HOST).await).secret,
        renewed.secret
    );
    assert_eq!(w.token_call_count().await, 2);
}

fn get_authorization_token_unavailable() -> fake_acr::FaultRule {
    fake_acr::FaultRule {
        action: Some("GetAuthorizationToken".into()),
        status: Some(503),
        code: Some("ServiceUnavailable".into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_during_an_outage_answers_its_valid_token_after_one_attempt_per_min_renewal_interval()
 {
    let w = world(3600).await;
    let argv = w.argv(
        "credential-helper",
        &[
            "--acr-attempts",
            "3",
            "--expiring-threshold",
            "2h",
            "--min-renewal-interval",
            "1m",
            "get",
        ],
    );
    let first = helper_answer(&run(&argv, PE_HOST).await);
    assert_eq!(w.token_call_count().await, 1);
    w.clouds
        .acr()
        .add_fault(get_authorization_token_unavailable())
        .await
        .unwrap();

    // Inside the threshold and past the floor: one renewal attempt (not --acr-attempts 3),
    // then the still-valid cached token.
    w.age_cache(Duration::from_secs(61));
    let out = run(&argv, PE_HOST).await;
    assert_eq!(helper_answer(&out).secret, first.secret);
    assert!(
        out.stderr.contains("ServiceUnavailable") && out.stderr.contains("cached token"),
        "{}",
        out.stderr
    );
    assert_eq!(w.token_call_count().await, 2);

    // Within the floor after that failed attempt: the cached token, no ACR call.
    w.age_cache(Duration::from_secs(30));
    let out = run(&argv, PE_HOST).await;
    assert_eq!(helper_answer(&out).secret, first.secret);
    assert!(out.stderr.contains("the last renewal"), "{}", out.stderr);
    assert_eq!(w.token_call_count().await, 2);

    // No valid token to fall back on: the full retry budget.
    let no_cache = w.argv(
        "credential-helper",
        &["--no-cache", "--acr-attempts", "3", "get"],
    );
    let out = run(&no_cache, PE_HOST).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("ServiceUnavailable"), "{}", out.stdout);
    assert_eq!(w.token_call_count().await, 5);

    // The outage over and the floor passed: renewed.
    match w.clouds.acr() {
        acr_conformance::clouds::AcrControl::Local(admin) => admin.clear_faults(),
        acr_conformance::clouds::AcrControl::Remote(_) => unreachable!("fakes are in-process"),
    }
    w.age_cache(Duration::from_secs(31));
    let out = run(&argv, PE_HOST).await;
    let renewed = helper_answer(&out);
    assert_ne!(renewed.secret, first.secret);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert_eq!(w.token_call_count().await, 6);
    assert!(w.pulls(PE_HZ, &renewed.username, &renewed.secret).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_neither_reads_nor_writes_a_cache_directory_others_can_write_or_list() {
    let w = world(3600).await;
    let argv = w.argv("credential-helper", &["get"]);
    std::fs::create_dir_all(w.cache_dir()).unwrap();
    for exposed in [0o777, 0o755, 0o720] {
        std::fs::set_permissions(w.cache_dir(), std::fs::Permissions::from_mode(exposed)).unwrap();
        let out = run(&argv, PE_HOST).await;
        helper_answer(&out);
        let expected = format!(
            "cache directory {} is accessible by others (mode {exposed:04o})",
            w.cache_dir().display()
        );
        assert!(out.stderr.contains(&expected), "{}", out.stderr);
        assert!(!w.cache_file().exists(), "{exposed:o}");
    }
    assert_eq!(w.token_call_count().await, 3);
    // Made private: used again.
    std::fs::set_permissions(w.cache_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let first = helper_answer(&run(&argv, PE_HOST).await);
    let out = run(&argv, PE_HOST).await;
    assert_eq!(helper_answer(&out).secret, first.secret);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert_eq!(w.token_call_count().await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_removes_temporary_cache_files_a_crashed_get_left() {
    let w = world(3600).await;
    std::fs::create_dir_all(w.cache_dir()).unwrap();
    std::fs::set_permissions(w.cache_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let crashed = w.cache_dir().join(".cache.json.4242.1.tmp");
    std::fs::write(&crashed, "{\"password\": \"left by a crash\"}").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&crashed)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(120))
        .unwrap();
    helper_answer(&run(&w.argv("credential-helper", &["get"]), PE_HOST).await);
    let names: Vec<_> = std::fs::read_dir(w.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("cache.json")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_replaces_a_corrupt_cache_file_and_still_answers() {
    let w = world(3600).await;
    std::fs::create_dir_all(w.cache_dir()).unwrap();
    std::fs::set_permissions(w.cache_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(w.cache_file(), "{\"version\": 1, \"tokens\": [tru").unwrap();
    std::fs::set_permissions(w.cache_file(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let argv = w.argv("credential-helper", &["get"]);
    let out = run(&argv, PE_HOST).await;
    let answer = helper_answer(&out);
    assert!(
        out.stderr.contains("is not a token cache"),
        "{}",
        out.stderr
    );
    assert!(w.pulls(PE_HZ, &answer.username, &answer.secret).await);
    // Rewritten: the next get answers from it.
    let text = std::fs::read_to_string(w.cache_file()).unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_ok(),
        "{text}"
    );
    let out = run(&argv, PE_HOST).await;
    assert_eq!(helper_answer(&out).secret, answer.secret);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert_eq!(w.token_call_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_ignores_a_cache_file_others_can_read() {
    let w = world(3600).await;
    let argv = w.argv("credential-helper", &["get"]);
    let first = helper_answer(&run(&argv, PE_HOST).await);
    std::fs::set_permissions(w.cache_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&argv, PE_HOST).await;
    let second = helper_answer(&out);
    assert!(
        out.stderr
            .contains("is accessible by others (mode 0644): ignored"),
        "{}",
        out.stderr
    );
    assert_ne!(second.secret, first.secret);
    assert_eq!(w.token_call_count().await, 2);
    // Replaced by a private file, which is used again.
    assert_eq!(mode(&w.cache_file()), 0o600);
    assert_eq!(
        helper_answer(&run(&argv, PE_HOST).await).secret,
        second.secret
    );
    assert_eq!(w.token_call_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_with_no_cache_fetches_on_every_get_and_writes_nothing() {
    let w = world(3600).await;
    let argv = w.argv("credential-helper", &["--no-cache", "get"]);
    for _ in 0..3 {
        helper_answer(&run(&argv, PE_HOST).await);
    }
    assert_eq!(w.token_call_count().await, 3);
    assert!(!w.cache_dir().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_caches_enterprise_tokens_per_instance_without_listing_instances_again() {
    let w = world(3600).await;
    let argv = w.argv("credential-helper", &["get"]);
    let host = "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com";
    let first = helper_answer(&run(&argv, host).await);
    let again =
        helper_answer(&run(&argv, "demo-hz-registry-vpc.cn-hangzhou.cr.aliyuncs.com").await);
    assert_eq!(again.secret, first.secret);
    let personal = helper_answer(&run(&argv, PE_HOST).await);
    assert_ne!(personal.secret, first.secret);
    assert_eq!(w.token_call_count().await, 2);
    let listed = w
        .clouds
        .acr()
        .log()
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "ListInstance")
        .count();
    assert_eq!(listed, 1);
    assert!(w.pulls(EE_HZ, &again.username, &again.secret).await);
}

fn request(image: &str) -> String {
    serde_json::json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": image,
    })
    .to_string()
}

/// Whole seconds of a Go duration as this plugin writes them (`45m0s`, `1m30s`, `12s`, `0s`).
fn go_seconds(text: &str) -> u64 {
    acr_refresher::duration::parse(text)
        .unwrap_or_else(|e| panic!("cacheDuration {text:?}: {e}"))
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_plugin_answers_registry_auth_with_a_cache_duration_before_the_threshold() {
    let w = world(600).await;
    let argv = w.argv(
        "kubelet-credential-provider",
        &["--expiring-threshold", "30s"],
    );
    let out = run(&argv, &request(EE_HZ)).await;
    assert_eq!(out.code, 0, "stderr {}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["apiVersion"], "credentialprovider.kubelet.k8s.io/v1");
    assert_eq!(v["kind"], "CredentialProviderResponse");
    assert_eq!(v["cacheKeyType"], "Registry");
    // Lifetime 600 s minus threshold 30 s, less the time the call took (a minute of margin for
    // a loaded machine; a cacheDuration from the whole lifetime would be 600 s, too late).
    let ttl = go_seconds(v["cacheDuration"].as_str().unwrap());
    assert!((510..=570).contains(&ttl), "cacheDuration {ttl} s");
    let auth = v["auth"].as_object().unwrap();
    let host = "demo-hz-registry.cn-hangzhou.cr.aliyuncs.com";
    assert_eq!(auth.keys().collect::<Vec<_>>(), vec![host]);
    let (user, password) = (
        auth[host]["username"].as_str().unwrap(),
        auth[host]["password"].as_str().unwrap(),
    );
    assert!(!out.stderr.contains(password));
    assert!(w.pulls(EE_HZ, user, password).await);

    // The default threshold (15m, the refresher's) exceeds the lifetime: kubelet still caches
    // for the min-renewal-interval (10s by default), or it would run the plugin on every pull.
    let out = run(&w.argv("kubelet-credential-provider", &[]), &request(PE_HZ)).await;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["cacheDuration"], "10s");
    let out = run(
        &w.argv(
            "kubelet-credential-provider",
            &["--min-renewal-interval", "2s"],
        ),
        &request(PE_HZ),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["cacheDuration"], "2s");
    assert!(v["auth"]["registry.cn-hangzhou.aliyuncs.com"]["password"].is_string());

    // Not ACR: an empty auth map, and no ACR call for it.
    let before = w.clouds.token_calls().await.unwrap().len();
    let out = run(&argv, &request("nginx:1.27")).await;
    assert_eq!(out.code, 0, "stderr {}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["auth"], serde_json::json!({}));
    assert_eq!(w.clouds.token_calls().await.unwrap().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_plugin_refuses_malformed_requests_with_a_clear_message() {
    let w = world(3600).await;
    let argv = w.argv("kubelet-credential-provider", &[]);
    for (stdin, expected) in [
        ("{\"image\":", "stdin is not a CredentialProviderRequest"),
        (
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v2","kind":"CredentialProviderRequest","image":"x"}"#,
            "apiVersion \"credentialprovider.kubelet.k8s.io/v2\" is not one of",
        ),
        (
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest"}"#,
            "the request names no image",
        ),
        (
            &request("registry.cn-hangzhou.aliyuncs.com/Demo/App"),
            "image \"registry.cn-hangzhou.aliyuncs.com/Demo/App\"",
        ),
    ] {
        let out = run(&argv, stdin).await;
        assert_eq!(out.code, 1, "{stdin}");
        assert!(out.stdout.is_empty(), "{stdin}: stdout {}", out.stdout);
        assert!(
            out.stderr
                .starts_with("acr-refresher kubelet-credential-provider: ")
                && out.stderr.contains(expected),
            "{stdin}: {}",
            out.stderr
        );
    }
}
