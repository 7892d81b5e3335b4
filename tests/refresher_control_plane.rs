//! The refresher end to end: fake-metadata and fake-acr in-process, a real local control plane
//! (kube-apiserver + etcd + controller-manager), and `acr_refresher::run::run` as the process
//! would run it. Every wait polls with a deadline.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use acr_conformance::cluster::ControlPlane;
use acr_refresher::desired::{self, DEFAULT_SECRET_NAME};
use acr_refresher::run::RunArgs;
use clap::Parser;
use k8s_openapi::api::core::v1::{
    ConfigMap, LocalObjectReference, Namespace, Secret, ServiceAccount,
};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};

const DEADLINE: Duration = Duration::from_secs(20);

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

struct Clouds {
    metadata: fake_metadata::Running,
    acr: fake_acr::Running,
    ca_file: tempfile::NamedTempFile,
}

async fn clouds(token_lifetime_secs: u64) -> Clouds {
    let metadata = fake_metadata::FakeMetadata::start(fake_metadata::Settings::default())
        .await
        .expect("fake-metadata starts");
    let acr = fake_acr::FakeAcr::start(fake_acr::Settings {
        token_lifetime_secs,
        ..Default::default()
    })
    .await
    .expect("fake-acr starts");
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), acr.ca_pem()).unwrap();
    Clouds {
        metadata,
        acr,
        ca_file,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The command line the conformance suite would use, pointing at the fakes.
fn run_args(clouds: &Clouds, kubeconfig: &Path, listen_port: u16, extra: &[&str]) -> RunArgs {
    let port = clouds.acr.addr().port();
    let mut argv: Vec<String> = vec![
        "acr-refresher".into(),
        "--kubeconfig".into(),
        kubeconfig.display().to_string(),
        "--metadata-endpoint".into(),
        clouds.metadata.base_url(),
        "--endpoint-template".into(),
        format!("https://cr.{{region}}.aliyuncs.com:{port}"),
        "--ca-file".into(),
        clouds.ca_file.path().display().to_string(),
        "--resolve".into(),
        "cr.cn-hangzhou.aliyuncs.com=127.0.0.1".into(),
        "--resolve".into(),
        "cr.cn-beijing.aliyuncs.com=127.0.0.1".into(),
        "--listen".into(),
        format!("127.0.0.1:{listen_port}"),
        "--min-renewal-interval".into(),
        "2s".into(),
    ];
    if !extra.contains(&"--lease-duration") {
        argv.extend(["--lease-duration".into(), "3s".into()]);
    }
    argv.extend(extra.iter().map(|s| s.to_string()));
    Cli::try_parse_from(argv).expect("valid flags").run
}

struct Refresher {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), acr_refresher::run::RunError>>,
}

fn start(args: RunArgs) -> Refresher {
    // Several rustls providers are compiled into the test binary: kube's client needs one chosen.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    acr_refresher::telemetry::init(acr_refresher::telemetry::LogFormat::Text);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(acr_refresher::run::run(args, async move {
        let _ = stopped.await;
    }));
    Refresher {
        stop: Some(stop),
        task,
    }
}

impl Refresher {
    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(DEADLINE, &mut self.task).await;
        assert!(
            matches!(result, Ok(Ok(Ok(())))),
            "graceful shutdown: {result:?}"
        );
    }
}

/// Polls `check` until it returns `Some`, or panics naming `what` after the deadline.
async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create_namespace(client: &Client, name: &str) {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

async fn create_service_account(client: &Client, ns: &str, name: &str, pull: &[&str]) {
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        image_pull_secrets: Some(
            pull.iter()
                .map(|n| LocalObjectReference {
                    name: n.to_string(),
                })
                .collect(),
        ),
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();
}

async fn pull_secrets(client: &Client, ns: &str, sa: &str) -> Option<Vec<String>> {
    let sa = Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .get_opt(sa)
        .await
        .ok()??;
    Some(
        sa.image_pull_secrets
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.name)
            .collect(),
    )
}

async fn our_secret(client: &Client, ns: &str) -> Option<Secret> {
    Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(DEFAULT_SECRET_NAME)
        .await
        .ok()?
}

async fn set_config(client: &Client, data: &[(&str, &str)]) {
    let data: BTreeMap<String, String> = data
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("acr-configuration".into()),
            namespace: Some("kube-system".into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    let api = Api::<ConfigMap>::namespaced(client.clone(), "kube-system");
    let params = PatchParams::apply("refresher-test").force();
    api.patch("acr-configuration", &params, &Patch::Apply(&cm))
        .await
        .unwrap();
}

async fn warning_events(client: &Client, ns: &str, reason: &str) -> Vec<Event> {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason) && e.type_.as_deref() == Some("Warning"))
        .collect()
}

/// Keys and users of our Secret's `.dockerconfigjson`.
fn auth_keys(secret: &Secret) -> Vec<String> {
    desired::secret_auths(secret)
        .map(|a| a.keys().cloned().collect())
        .unwrap_or_default()
}

fn has(entries: &Option<Vec<String>>, name: &str) -> bool {
    entries
        .as_ref()
        .is_some_and(|e| e.iter().any(|n| n == name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresher_serves_namespaces_and_service_accounts_as_configured() {
    let plane = ControlPlane::start().await.expect("control plane");
    let client = plane.client();
    let clouds = clouds(3600).await;

    // A foreign entry that must survive everything.
    eventually("default SA", DEADLINE, || {
        pull_secrets(&client, "default", "default")
    })
    .await;
    Api::<ServiceAccount>::namespaced(client.clone(), "default")
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"imagePullSecrets": [{"name": "foreign"}]})),
        )
        .await
        .unwrap();
    create_namespace(&client, "other").await;

    // No ConfigMap: the seed's defaults (namespace default, SA default, node-region keys).
    let refresher = start(run_args(&clouds, plane.kubeconfig_path(), free_port(), &[]));
    let secret = eventually("Secret in default", DEADLINE, || {
        our_secret(&client, "default")
    })
    .await;
    assert_eq!(
        secret.type_.as_deref(),
        Some(desired::DOCKERCONFIGJSON_TYPE)
    );
    assert_eq!(
        auth_keys(&secret),
        [
            "registry-vpc.cn-hangzhou.aliyuncs.com",
            "registry.cn-hangzhou.aliyuncs.com"
        ]
    );
    let entry = &desired::secret_auths(&secret).unwrap()["registry.cn-hangzhou.aliyuncs.com"];
    assert!(!entry.username.is_empty() && !entry.password.is_empty());
    let entries = eventually("default SA patched", DEADLINE, || async {
        pull_secrets(&client, "default", "default")
            .await
            .filter(|e| has(&Some(e.clone()), DEFAULT_SECRET_NAME))
    })
    .await;
    assert_eq!(
        entries,
        ["foreign", DEFAULT_SECRET_NAME],
        "foreign entry kept, ours appended"
    );
    assert!(
        our_secret(&client, "other").await.is_none(),
        "namespace outside the watch set"
    );

    // Live edit: a list of namespaces and ServiceAccounts; namespaces created afterwards.
    set_config(
        &client,
        &[
            ("watch-namespace", "a, b"),
            ("service-account", "default,sa1"),
        ],
    )
    .await;
    let created = Instant::now();
    create_namespace(&client, "a").await;
    create_namespace(&client, "b").await;
    eventually("a/default patched", DEADLINE, || async {
        has(
            &pull_secrets(&client, "a", "default").await,
            DEFAULT_SECRET_NAME,
        )
        .then_some(())
    })
    .await;
    eprintln!(
        "MEASURED namespace creation -> patched default SA: {:?}",
        created.elapsed()
    );
    let sa_created = Instant::now();
    create_service_account(&client, "b", "sa1", &["their-own"]).await;
    create_service_account(&client, "b", "sa2", &[]).await;
    let entries = eventually("b/sa1 patched", DEADLINE, || async {
        pull_secrets(&client, "b", "sa1")
            .await
            .filter(|e| e.len() == 2)
    })
    .await;
    eprintln!(
        "MEASURED ServiceAccount creation -> patched: {:?}",
        sa_created.elapsed()
    );
    assert_eq!(entries, ["their-own", DEFAULT_SECRET_NAME]);
    // The namespace that left the watch set loses our Secret and entry, nothing else.
    eventually("default cleaned up", DEADLINE, || async {
        let entries = pull_secrets(&client, "default", "default").await?;
        (our_secret(&client, "default").await.is_none() && entries == ["foreign"]).then_some(())
    })
    .await;
    assert_eq!(
        pull_secrets(&client, "b", "sa2").await.unwrap(),
        Vec::<String>::new(),
        "sa2 not selected"
    );

    // A user deletes the Secret: restored.
    Api::<Secret>::namespaced(client.clone(), "a")
        .delete(DEFAULT_SECRET_NAME, &DeleteParams::default())
        .await
        .unwrap();
    eventually("Secret in a restored", DEADLINE, || async {
        our_secret(&client, "a")
            .await
            .filter(|s| s.metadata.deletion_timestamp.is_none())
    })
    .await;
    // A user strips our entry from an SA: restored, theirs kept.
    Api::<ServiceAccount>::namespaced(client.clone(), "b")
        .patch(
            "sa1",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"imagePullSecrets": [{"name": "their-own"}]})),
        )
        .await
        .unwrap();
    eventually("b/sa1 entry restored", DEADLINE, || async {
        pull_secrets(&client, "b", "sa1")
            .await
            .filter(|e| e == &["their-own", DEFAULT_SECRET_NAME])
    })
    .await;

    // A foreign Secret with our name is never touched; Warning Event on it.
    create_namespace(&client, "c").await;
    let foreign = Secret {
        metadata: ObjectMeta {
            name: Some(DEFAULT_SECRET_NAME.into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("note".to_owned(), "mine".to_owned())])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), "c")
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();
    set_config(
        &client,
        &[
            ("watch-namespace", "a,b,c"),
            ("service-account", "default,sa1"),
        ],
    )
    .await;
    eventually("ForeignSecret event in c", DEADLINE, || async {
        (!warning_events(&client, "c", "ForeignSecret")
            .await
            .is_empty())
        .then_some(())
    })
    .await;
    let still = our_secret(&client, "c").await.unwrap();
    assert!(!desired::is_managed(&still));
    assert_eq!(still.data.unwrap()["note"].0, b"mine");
    assert!(!has(
        &pull_secrets(&client, "c", "default").await,
        DEFAULT_SECRET_NAME
    ));

    // An invalid edit: Warning Event on the ConfigMap, the last good configuration stays.
    set_config(
        &client,
        &[
            ("watch-namespace", "a,b,c"),
            ("expiring-threshold", "15 minutes"),
        ],
    )
    .await;
    eventually("InvalidConfiguration event", DEADLINE, || async {
        warning_events(&client, "kube-system", "InvalidConfiguration")
            .await
            .into_iter()
            .find(|e| {
                e.note
                    .as_deref()
                    .is_some_and(|n| n.contains("expiring-threshold"))
            })
    })
    .await;
    create_service_account(&client, "a", "sa1", &[]).await;
    eventually(
        "a/sa1 patched under the last good config",
        DEADLINE,
        || async {
            has(
                &pull_secrets(&client, "a", "sa1").await,
                DEFAULT_SECRET_NAME,
            )
            .then_some(())
        },
    )
    .await;

    // all + "*": every namespace (kube-system included), every SA, new ones too.
    set_config(
        &client,
        &[("watch-namespace", "All"), ("service-account", "*")],
    )
    .await;
    create_namespace(&client, "d").await;
    for ns in ["default", "kube-system", "other", "d"] {
        eventually(&format!("{ns} served"), DEADLINE, || async {
            has(
                &pull_secrets(&client, ns, "default").await,
                DEFAULT_SECRET_NAME,
            )
            .then_some(())
        })
        .await;
    }
    eventually("b/sa2 patched under *", DEADLINE, || async {
        has(
            &pull_secrets(&client, "b", "sa2").await,
            DEFAULT_SECRET_NAME,
        )
        .then_some(())
    })
    .await;
    assert_eq!(
        pull_secrets(&client, "default", "default").await.unwrap(),
        ["foreign", DEFAULT_SECRET_NAME]
    );

    // One token (Personal Edition, node region) served every namespace.
    assert_eq!(clouds.acr.admin().count("GetAuthorizationToken"), 1);
    refresher.shutdown().await;
}

async fn scrape(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn sample(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresher_renews_before_expiry_once_per_key_and_keeps_credentials_through_faults() {
    const LIFETIME: i64 = 24;
    const THRESHOLD: i64 = 12;
    let plane = ControlPlane::start().await.expect("control plane");
    let client = plane.client();
    let clouds = clouds(LIFETIME as u64).await;
    let names: Vec<String> = (1..=20).map(|i| format!("r{i}")).collect();
    let namespaces: Vec<&str> = names.iter().map(String::as_str).collect();
    for ns in &namespaces {
        create_namespace(&client, ns).await;
    }
    set_config(
        &client,
        &[
            ("watch-namespace", &names.join(",")),
            ("expiring-threshold", &format!("{THRESHOLD}s")),
        ],
    )
    .await;
    let port = free_port();
    let refresher = start(run_args(&clouds, plane.kubeconfig_path(), port, &[]));
    let mut first = BTreeMap::new();
    for &ns in &namespaces {
        let secret = eventually("first Secret", DEADLINE, || our_secret(&client, ns)).await;
        eventually("SA patched", DEADLINE, || async {
            has(
                &pull_secrets(&client, ns, "default").await,
                DEFAULT_SECRET_NAME,
            )
            .then_some(())
        })
        .await;
        first.insert(ns, desired::secret_auths(&secret).unwrap());
    }
    let metrics = scrape(port).await;
    eprintln!(
        "MEASURED {} namespaces: ACR GetAuthorizationToken calls {}, API writes {}",
        namespaces.len(),
        clouds.acr.admin().count("GetAuthorizationToken"),
        sample(&metrics, "acr_refresher_api_writes_total")
    );
    assert_eq!(clouds.acr.admin().count("GetAuthorizationToken"), 1);
    // 1 Secret create + 1 SA patch per namespace, nothing else.
    assert_eq!(
        sample(&metrics, "acr_refresher_api_writes_total"),
        2.0 * namespaces.len() as f64
    );

    // The metadata server goes down: the cached STS credentials keep signing.
    clouds
        .metadata
        .admin()
        .add_fault(fake_metadata::FaultRule::new(
            "*",
            fake_metadata::FaultKind::Status {
                status: 500,
                body: "down".into(),
            },
        ));

    // Renewal between L-T and L, one ACR call, one Secret update per namespace.
    for &ns in &namespaces {
        eventually(
            "renewed Secret",
            Duration::from_secs(LIFETIME as u64 + 10),
            || async {
                let auths = desired::secret_auths(&our_secret(&client, ns).await?)?;
                (auths != first[ns]).then_some(())
            },
        )
        .await;
    }
    let log: Vec<_> = clouds
        .acr
        .admin()
        .log()
        .into_iter()
        .filter(|e| e.action == "GetAuthorizationToken")
        .collect();
    assert_eq!(log.len(), 2, "one renewal call for all namespaces: {log:?}");
    assert!(log.iter().all(|e| e.result == "Success"), "{log:?}");
    let t = |e: &fake_acr::LogEntry| e.time.parse::<jiff::Timestamp>().unwrap();
    let gap = t(&log[1]).duration_since(t(&log[0])).as_millis() as i64;
    assert!(
        ((LIFETIME - THRESHOLD) * 1000 - 250..LIFETIME * 1000).contains(&gap),
        "renewed {gap} ms after issue"
    );
    let metrics = eventually("Secret updates counted", DEADLINE, || async {
        let m = scrape(port).await;
        (sample(
            &m,
            "acr_refresher_api_writes_total{kind=\"Secret\",verb=\"update\"}",
        ) >= namespaces.len() as f64)
            .then_some(m)
    })
    .await;
    assert_eq!(
        sample(
            &metrics,
            "acr_refresher_api_writes_total{kind=\"Secret\",verb=\"update\"}"
        ),
        namespaces.len() as f64
    );

    // Forbidden.RAM on the next renewal: Warning Event naming the permission, nothing deleted.
    clouds.acr.admin().add_fault(fake_acr::FaultRule {
        action: Some("GetAuthorizationToken".into()),
        status: Some(403),
        code: Some("Forbidden.RAM".into()),
        ..Default::default()
    });
    let event = eventually(
        "Forbidden.RAM event",
        Duration::from_secs(LIFETIME as u64 + 10),
        || async {
            warning_events(&client, "kube-system", "AcrForbidden")
                .await
                .into_iter()
                .next()
        },
    )
    .await;
    assert!(
        event
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("cr:GetAuthorizationToken"),
        "{event:?}"
    );
    for &ns in &namespaces {
        let secret = our_secret(&client, ns).await.expect("Secret kept");
        assert!(!auth_keys(&secret).is_empty(), "credentials kept in {ns}");
        assert!(has(
            &pull_secrets(&client, ns, "default").await,
            DEFAULT_SECRET_NAME
        ));
    }
    refresher.shutdown().await;
}

/// Applies every object of a multi-document RBAC manifest.
async fn apply_rbac(client: &Client, path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let params = PatchParams::apply("refresher-test").force();
    for document in serde_norway::Deserializer::from_str(&text) {
        let value: serde_norway::Value = serde::Deserialize::deserialize(document).unwrap();
        let value = serde_json::to_value(value).unwrap();
        let kind = value["kind"].as_str().unwrap_or_default().to_owned();
        let name = value["metadata"]["name"].as_str().unwrap().to_owned();
        let ns = value["metadata"]["namespace"].as_str().map(str::to_owned);
        match kind.as_str() {
            "ServiceAccount" => {
                let o: ServiceAccount = serde_json::from_value(value).unwrap();
                Api::<ServiceAccount>::namespaced(client.clone(), ns.as_deref().unwrap())
                    .patch(&name, &params, &Patch::Apply(&o))
                    .await
                    .unwrap();
            }
            "ClusterRole" => {
                let o: ClusterRole = serde_json::from_value(value).unwrap();
                Api::<ClusterRole>::all(client.clone())
                    .patch(&name, &params, &Patch::Apply(&o))
                    .await
                    .unwrap();
            }
            "ClusterRoleBinding" => {
                let o: ClusterRoleBinding = serde_json::from_value(value).unwrap();
                Api::<ClusterRoleBinding>::all(client.clone())
                    .patch(&name, &params, &Patch::Apply(&o))
                    .await
                    .unwrap();
            }
            "Role" => {
                let o: Role = serde_json::from_value(value).unwrap();
                Api::<Role>::namespaced(client.clone(), ns.as_deref().unwrap())
                    .patch(&name, &params, &Patch::Apply(&o))
                    .await
                    .unwrap();
            }
            "RoleBinding" => {
                let o: RoleBinding = serde_json::from_value(value).unwrap();
                Api::<RoleBinding>::namespaced(client.clone(), ns.as_deref().unwrap())
                    .patch(&name, &params, &Patch::Apply(&o))
                    .await
                    .unwrap();
            }
            other => panic!("unexpected kind {other} in {}", path.display()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresher_works_with_only_the_shipped_rbac() {
    let plane = ControlPlane::start().await.expect("control plane");
    let admin = plane.client();
    let clouds = clouds(3600).await;
    apply_rbac(
        &admin,
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("yaml/rbac.yaml"),
    )
    .await;
    set_config(&admin, &[("watch-namespace", "default,rbac-test")]).await;
    create_namespace(&admin, "rbac-test").await;
    // The manifests' ServiceAccount, authenticated by certificate: bound only by yaml/rbac.yaml.
    let kubeconfig = plane
        .kubeconfig_for(
            "system:serviceaccount:kube-system:acr-refresher",
            &[
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
            ],
        )
        .unwrap();
    let refresher = start(run_args(
        &clouds,
        &kubeconfig,
        free_port(),
        &["--identity", "replica-one"],
    ));
    for ns in ["default", "rbac-test"] {
        eventually("SA patched with least privilege", DEADLINE, || async {
            has(
                &pull_secrets(&admin, ns, "default").await,
                DEFAULT_SECRET_NAME,
            )
            .then_some(())
        })
        .await;
        assert!(our_secret(&admin, ns).await.is_some());
    }
    // As that ServiceAccount, no other Secret can be read: not by name, not by listing, not by
    // watching; only the pull Secret's name, which is what the refresher lists and watches.
    let as_refresher = plane
        .client_for(
            "system:serviceaccount:kube-system:acr-refresher",
            &[
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
            ],
        )
        .await
        .unwrap();
    let other = Secret {
        metadata: ObjectMeta {
            name: Some("not-the-refreshers".into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("k".to_owned(), "v".to_owned())])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(admin.clone(), "rbac-test")
        .create(&PostParams::default(), &other)
        .await
        .unwrap();
    let forbidden = |result: Result<_, kube::Error>, what: &str| match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        Err(other) => panic!("{what}: expected Forbidden, got {other}"),
        Ok(_) => panic!("{what}: expected Forbidden, it was allowed"),
    };
    let scoped = Api::<Secret>::namespaced(as_refresher.clone(), "rbac-test");
    let everywhere = Api::<Secret>::all(as_refresher.clone());
    forbidden(
        scoped.get("not-the-refreshers").await.map(|_| ()),
        "get another Secret",
    );
    forbidden(
        scoped.list(&ListParams::default()).await.map(|_| ()),
        "list a namespace's Secrets",
    );
    forbidden(
        everywhere.list(&ListParams::default()).await.map(|_| ()),
        "list every Secret",
    );
    forbidden(
        everywhere
            .watch(&kube::api::WatchParams::default(), "0")
            .await
            .map(|_| ()),
        "watch every Secret",
    );
    forbidden(
        everywhere
            .list(&ListParams::default().labels("app.kubernetes.io/managed-by=acr-refresher"))
            .await
            .map(|_| ()),
        "list Secrets by our label",
    );
    forbidden(
        everywhere
            .list(&ListParams::default().fields("metadata.name=not-the-refreshers"))
            .await
            .map(|_| ()),
        "list another name",
    );
    forbidden(
        Api::<Secret>::namespaced(as_refresher.clone(), "kube-system")
            .list(&ListParams::default())
            .await
            .map(|_| ()),
        "list kube-system's Secrets",
    );
    let ours = everywhere
        .list(&ListParams::default().fields(&format!("metadata.name={DEFAULT_SECRET_NAME}")))
        .await
        .expect("the pull Secret's name may be listed cluster-wide");
    assert!(
        ours.items
            .iter()
            .all(|s| s.metadata.name.as_deref() == Some(DEFAULT_SECRET_NAME))
    );
    assert!(ours.items.len() >= 2);
    scoped
        .get(DEFAULT_SECRET_NAME)
        .await
        .expect("the pull Secret may be read");
    // Events and the Lease work too.
    set_config(
        &admin,
        &[
            ("watch-namespace", "default,rbac-test"),
            ("expiring-threshold", "bad"),
        ],
    )
    .await;
    eventually("InvalidConfiguration event", DEADLINE, || async {
        (!warning_events(&admin, "kube-system", "InvalidConfiguration")
            .await
            .is_empty())
        .then_some(())
    })
    .await;
    let lease =
        Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(admin.clone(), "kube-system")
            .get("acr-refresher")
            .await
            .unwrap();
    assert!(
        lease
            .spec
            .and_then(|s| s.holder_identity)
            .is_some_and(|h| !h.is_empty())
    );
    // A second replica waits as a standby: it never writes while the first holds the Lease.
    let standby_port = free_port();
    let standby = start(run_args(
        &clouds,
        &kubeconfig,
        standby_port,
        &["--identity", "replica-two"],
    ));
    eventually("standby serving metrics", DEADLINE, || async {
        let metrics = reqwest::get(format!("http://127.0.0.1:{standby_port}/metrics"))
            .await
            .ok()?;
        metrics.text().await.ok()
    })
    .await;
    // Leaving the watch set needs delete and patch: also covered by the ClusterRole.
    set_config(&admin, &[("watch-namespace", "default")]).await;
    eventually("rbac-test cleaned up", DEADLINE, || async {
        (our_secret(&admin, "rbac-test").await.is_none()
            && !has(
                &pull_secrets(&admin, "rbac-test", "default").await,
                DEFAULT_SECRET_NAME,
            ))
        .then_some(())
    })
    .await;
    let standby_metrics = scrape(standby_port).await;
    assert_eq!(sample(&standby_metrics, "acr_refresher_leader"), 0.0);
    assert_eq!(
        sample(&standby_metrics, "acr_refresher_api_writes_total"),
        0.0
    );
    // The leader stops and releases the Lease: the standby takes over and keeps serving.
    refresher.shutdown().await;
    eventually("standby became leader", DEADLINE, || async {
        (sample(&scrape(standby_port).await, "acr_refresher_leader") == 1.0).then_some(())
    })
    .await;
    Api::<Secret>::namespaced(admin.clone(), "default")
        .delete(DEFAULT_SECRET_NAME, &DeleteParams::default())
        .await
        .unwrap();
    eventually("Secret restored by the new leader", DEADLINE, || async {
        our_secret(&admin, "default")
            .await
            .filter(|s| s.metadata.deletion_timestamp.is_none())
    })
    .await;
    standby.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_by_a_hung_api_server_steps_down_before_its_lease_runs_out() {
    use k8s_openapi::api::coordination::v1::Lease;
    let plane = ControlPlane::start().await.expect("control plane");
    let admin = plane.client();
    let clouds = clouds(3600).await;
    let port = free_port();
    let refresher = start(run_args(
        &clouds,
        plane.kubeconfig_path(),
        port,
        &["--identity", "cut-off", "--lease-duration", "6s"],
    ));
    eventually("default SA patched", DEADLINE, || async {
        has(
            &pull_secrets(&admin, "default", "default").await,
            DEFAULT_SECRET_NAME,
        )
        .then_some(())
    })
    .await;
    // The Lease as last written before the apiserver hangs: no other replica may take over
    // before its renewTime plus its duration (by the apiserver host's clock, which is ours).
    let lease = Api::<Lease>::namespaced(admin.clone(), "kube-system")
        .get("acr-refresher")
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(lease.holder_identity.as_deref(), Some("cut-off"));
    plane.pause_apiserver();
    let runs_out = lease.renew_time.unwrap().0
        + Duration::from_secs(lease.lease_duration_seconds.unwrap() as u64);
    let outcome = tokio::time::timeout(Duration::from_secs(30), refresher.task).await;
    let stepped_down_at = k8s_openapi::jiff::Timestamp::now();
    plane.resume_apiserver();
    let result = outcome.expect("the leader stops while the apiserver hangs");
    assert!(result.unwrap().is_ok(), "stepping down is not an error");
    assert!(
        stepped_down_at < runs_out,
        "stepped down at {stepped_down_at}, the Lease ran out at {runs_out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_expiry_is_judged_by_the_candidates_own_clock() {
    use acr_refresher::leader_election::{LeaderElector, LeaseSettings};
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    let plane = ControlPlane::start().await.expect("control plane");
    let admin = plane.client();
    // Another replica whose clock runs an hour behind holds the Lease: by wall clocks it looks
    // long expired, but it has not been observed unchanged for a lease duration yet.
    let skewed = k8s_openapi::jiff::Timestamp::now() - Duration::from_secs(3600);
    let leases = Api::<Lease>::namespaced(admin.clone(), "kube-system");
    leases
        .create(
            &PostParams::default(),
            &Lease {
                metadata: ObjectMeta {
                    name: Some("skew".into()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some("behind".into()),
                    lease_duration_seconds: Some(2),
                    renew_time: Some(MicroTime(skewed)),
                    ..Default::default()
                }),
            },
        )
        .await
        .unwrap();
    let elector = LeaderElector::new(
        admin.clone(),
        LeaseSettings::for_lease_duration(
            "kube-system".into(),
            "skew".into(),
            "candidate".into(),
            Duration::from_secs(2),
        ),
    );
    let first_seen = Instant::now();
    assert!(
        !elector.try_acquire_or_renew().await.unwrap(),
        "taken at first sight"
    );
    // Kept alive: each renewal (however skewed its time) restarts the candidate's wait.
    let mut renewed = leases.get("skew").await.unwrap();
    renewed.spec.as_mut().unwrap().renew_time = Some(MicroTime(skewed + Duration::from_secs(1)));
    leases
        .replace("skew", &PostParams::default(), &renewed)
        .await
        .unwrap();
    let renewed_seen = Instant::now();
    assert!(!elector.try_acquire_or_renew().await.unwrap());
    // Left alone, it is taken once the candidate has seen it unchanged for its duration.
    let taken = eventually(
        "Lease taken after it stayed unchanged",
        DEADLINE,
        || async {
            elector
                .try_acquire_or_renew()
                .await
                .unwrap()
                .then(Instant::now)
        },
    )
    .await;
    assert!(taken >= renewed_seen + Duration::from_secs(2));
    assert!(taken >= first_seen + Duration::from_secs(2));
    let holder = leases
        .get("skew")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity;
    assert_eq!(holder.as_deref(), Some("candidate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_is_reported_with_its_status_and_retried_not_taken_for_a_conflict() {
    use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let plane = ControlPlane::start().await.expect("control plane");
    let client = plane.client();
    let clouds = clouds(3600).await;
    create_namespace(&client, "quota").await;
    // No Secret may be created in namespace quota: the API server refuses with 403.
    let quota = ResourceQuota {
        metadata: ObjectMeta {
            name: Some("no-secrets".into()),
            ..Default::default()
        },
        spec: Some(ResourceQuotaSpec {
            hard: Some(BTreeMap::from([(
                "count/secrets".to_owned(),
                Quantity("0".into()),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), "quota");
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    // The quota controller does not run here: its status is set as it would set it, which is
    // what the API server's quota admission enforces.
    quotas
        .patch_status(
            "no-secrets",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {
                "hard": {"count/secrets": "0"},
                "used": {"count/secrets": "0"},
            }})),
        )
        .await
        .unwrap();
    set_config(&client, &[("watch-namespace", "default,quota")]).await;
    let port = free_port();
    let refresher = start(run_args(&clouds, plane.kubeconfig_path(), port, &[]));
    // The other namespace is served meanwhile.
    eventually("default served", DEADLINE, || async {
        has(
            &pull_secrets(&client, "default", "default").await,
            DEFAULT_SECRET_NAME,
        )
        .then_some(())
    })
    .await;
    let event = eventually("WriteFailed event", DEADLINE, || async {
        warning_events(&client, "quota", "WriteFailed").await.pop()
    })
    .await;
    let note = event.note.unwrap_or_default();
    assert!(note.contains("status 403"), "{note}");
    assert!(note.contains("create Secret quota/"), "{note}");
    assert_eq!(
        event.regarding.and_then(|r| r.kind).as_deref(),
        Some("Secret")
    );
    // Retried with backoff: once the quota is gone, the namespace is served.
    quotas
        .delete("no-secrets", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "quota served after the refusal ended",
        Duration::from_secs(60),
        || async {
            has(
                &pull_secrets(&client, "quota", "default").await,
                DEFAULT_SECRET_NAME,
            )
            .then_some(())
        },
    )
    .await;
    let metrics = scrape(port).await;
    assert!(sample(&metrics, "acr_refresher_reconciles_total{result=\"error\"}") >= 1.0);
    refresher.shutdown().await;
}
