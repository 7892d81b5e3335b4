//! A deliberately simple refresher for the suite's self-tests
//! (`tests/catalogue/suite_can_fail.rs`): it passes the scenarios it is run against, and with one
//! flaw planted fails exactly the scenarios that judge that flaw — the suite's mutation catalogue.
//!
//! It polls the ConfigMap every 300 ms, fetches tokens with the reference's ACR and metadata
//! clients (Enterprise Edition domains from `ListInstanceEndpoint`), writes one labelled Secret
//! per watched namespace only when its bytes change, appends it to the `default`
//! ServiceAccount, removes both from namespaces that leave the set, leaves a Secret with its
//! name but not its label alone (with a Warning Event), and reports a missing RAM permission in
//! a Warning Event. A flaw is chosen by `--flaw` (test support only, never a product flag); the
//! table of flaws and the scenarios that catch them is [`FLAWS`] and the README's mutation table.
//!
//! Usage: `naive_refresher --flaw F --kubeconfig {kubeconfig} --metadata {metadata}
//! --acr-port {acr_port} --resolve {acr_resolve} --ca {ca}`

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use acr_refresher::acr::token::{RegistryToken, TokenKey};
use acr_refresher::acr::{AcrClient, AcrClientSettings};
use acr_refresher::credentials::ecs_metadata::{EcsMetadataClient, EcsMetadataSettings};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, EventSource, Namespace, ObjectReference, Secret, ServiceAccount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};

/// The planted flaws, `(name, what it does)`; `tests/catalogue/suite_can_fail.rs` lists the
/// scenarios that must fail each.
const FLAWS: &[(&str, &str)] = &[
    ("none", "no flaw"),
    ("never-renews", "keeps the first token forever"),
    (
        "overwrites-foreign",
        "replaces the ServiceAccount's imagePullSecrets",
    ),
    ("wrong-region", "asks the node's region for every token"),
    (
        "serves-late",
        "from 1.5 s after start also serves every namespace",
    ),
    (
        "writes-system-namespace",
        "also writes its Secret into kube-public",
    ),
    (
        "keeps-deselected",
        "never removes a namespace that left the set",
    ),
    (
        "glob-key",
        "adds a *.aliyuncs.com key with the node region's token",
    ),
    (
        "rewrites-unchanged",
        "writes its Secret every cycle, changed or not",
    ),
    (
        "takes-over-named",
        "takes over a Secret with its name but without its label",
    ),
    ("no-backoff", "one attempt per call, retried every cycle"),
    (
        "vague-event",
        "warns about the permission at start only; later Events omit it",
    ),
    (
        "deletes-by-name",
        "on removal deletes every Secret with its name, label or not",
    ),
    (
        "no-config-serves-all",
        "without a ConfigMap serves every namespace",
    ),
];

const SECRET: &str = "naive-acr-credential";
const LABEL: &str = "app.kubernetes.io/managed-by";
const LABEL_VALUE: &str = "naive-refresher";
const DOCKERCONFIGJSON: &str = ".dockerconfigjson";

struct Args {
    flaw: &'static str,
    kubeconfig: String,
    metadata: String,
    acr_port: String,
    resolve: Vec<(String, SocketAddr)>,
    ca: String,
}

fn args() -> Result<Args, String> {
    let mut map = BTreeMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        map.insert(k.trim_start_matches('-').to_string(), v);
    }
    let get = |k: &str| {
        map.get(k)
            .cloned()
            .ok_or_else(|| format!("--{k} is required"))
    };
    let wanted = get("flaw")?;
    let flaw = FLAWS
        .iter()
        .map(|(name, _)| *name)
        .find(|name| *name == wanted)
        .ok_or_else(|| format!("unknown flaw {wanted}"))?;
    let mut resolve = Vec::new();
    for entry in get("resolve")?.split(',').filter(|s| !s.is_empty()) {
        let (host, ip) = entry
            .split_once('=')
            .ok_or_else(|| format!("bad --resolve entry {entry}"))?;
        let ip: std::net::IpAddr = ip
            .parse()
            .map_err(|e| format!("bad address in {entry}: {e}"))?;
        resolve.push((host.to_string(), SocketAddr::new(ip, 0)));
    }
    Ok(Args {
        flaw,
        kubeconfig: get("kubeconfig")?,
        metadata: get("metadata")?,
        acr_port: get("acr-port")?,
        resolve,
        ca: get("ca")?,
    })
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    #[serde(default)]
    instance_id: String,
    #[serde(default)]
    region_id: String,
}

/// One token to fetch: the key asked for, and the region and instance its hosts belong to.
struct Wanted {
    key: TokenKey,
    region: String,
    instance: Option<String>,
}

/// The configuration this naive refresher understands.
struct Config {
    namespaces: Option<BTreeSet<String>>,
    threshold: Duration,
    tokens: Vec<Wanted>,
}

fn config(cm: Option<ConfigMap>, node_region: &str, flaw: &str) -> Config {
    let missing = cm.is_none();
    let data = cm.and_then(|c| c.data).unwrap_or_default();
    let watch = data
        .get("watch-namespace")
        .map(String::as_str)
        .unwrap_or("default");
    let namespaces = if watch.trim().eq_ignore_ascii_case("all")
        || (missing && flaw == "no-config-serves-all")
    {
        None
    } else {
        Some(
            watch
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    };
    let threshold = data
        .get("expiring-threshold")
        .and_then(|t| acr_refresher::duration::parse(t).ok())
        .unwrap_or(Duration::from_secs(900));
    let items: Vec<Item> = data
        .get("acr-registry-info")
        .and_then(|y| serde_norway::from_str(y).ok())
        .unwrap_or_else(|| {
            vec![Item {
                instance_id: String::new(),
                region_id: String::new(),
            }]
        });
    let tokens = items
        .into_iter()
        .map(|i| {
            let region = if i.region_id.is_empty() {
                node_region.to_string()
            } else {
                i.region_id
            };
            let asked = if flaw == "wrong-region" {
                node_region.to_string()
            } else {
                region.clone()
            };
            if i.instance_id.is_empty() {
                Wanted {
                    key: TokenKey::personal(asked),
                    region,
                    instance: None,
                }
            } else {
                Wanted {
                    key: TokenKey::enterprise(asked, i.instance_id.clone()),
                    region,
                    instance: Some(i.instance_id),
                }
            }
        })
        .collect();
    Config {
        namespaces,
        threshold,
        tokens,
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("naive_refresher: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("naive_refresher: {e}");
        std::process::exit(1);
    }
}

/// What the loop remembers between cycles.
struct State {
    flaw: &'static str,
    node_region: String,
    started: Instant,
    tokens: BTreeMap<TokenKey, RegistryToken>,
    /// When each token was last asked for (no more than one call a second per token).
    asked: BTreeMap<TokenKey, Instant>,
    domains: BTreeMap<(String, String), Vec<String>>,
    /// Warning messages already sent, with when.
    warned: BTreeMap<String, Instant>,
}

async fn run(args: Args) -> Result<(), String> {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(&args.kubeconfig).map_err(|e| e.to_string())?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
    let metadata = Arc::new(
        EcsMetadataClient::new(EcsMetadataSettings {
            endpoint: args.metadata.clone(),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?,
    );
    let node_region = metadata.region().await.map_err(|e| e.to_string())?;
    let no_backoff = args.flaw == "no-backoff";
    let acr = AcrClient::new(
        AcrClientSettings {
            endpoint_template: format!("https://cr.{{region}}.aliyuncs.com:{}", args.acr_port),
            extra_ca_file: Some(args.ca.clone().into()),
            resolve: args.resolve.clone(),
            attempts: if no_backoff { 1 } else { 4 },
            retry_base: Duration::from_millis(200),
            ..Default::default()
        },
        metadata,
    )
    .map_err(|e| e.to_string())?;
    let mut state = State {
        flaw: args.flaw,
        node_region,
        started: Instant::now(),
        tokens: BTreeMap::new(),
        asked: BTreeMap::new(),
        domains: BTreeMap::new(),
        warned: BTreeMap::new(),
    };
    if state.flaw == "vague-event" {
        warn(
            &client,
            &mut state,
            "default",
            "Permission",
            "make sure the node's RAM role allows cr:GetAuthorizationToken".into(),
        )
        .await;
    }
    loop {
        if let Err(e) = cycle(&client, &acr, &mut state).await {
            eprintln!("naive_refresher: cycle failed: {e}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A Warning Event in `namespace`, at most once every 10 s per message.
async fn warn(
    client: &kube::Client,
    state: &mut State,
    namespace: &str,
    reason: &str,
    message: String,
) {
    if state
        .warned
        .get(&message)
        .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
    {
        return;
    }
    state.warned.insert(message.clone(), Instant::now());
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!("naive-refresher.{nanos:x}")),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            kind: Some("Secret".into()),
            name: Some(SECRET.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        reason: Some(reason.into()),
        message: Some(message),
        type_: Some("Warning".into()),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        source: Some(EventSource {
            component: Some("naive-refresher".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    if let Err(e) = events.create(&PostParams::default(), &event).await {
        eprintln!("naive_refresher: cannot record an Event: {e}");
    }
}

async fn cycle(client: &kube::Client, acr: &AcrClient, state: &mut State) -> Result<(), String> {
    let flaw = state.flaw;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let cfg = config(
        cms.get_opt("acr-configuration")
            .await
            .map_err(|e| e.to_string())?,
        &state.node_region,
        flaw,
    );
    let mut auths = serde_json::Map::new();
    for wanted in &cfg.tokens {
        let key = &wanted.key;
        let due = match state.tokens.get(key) {
            None => true,
            Some(_) if flaw == "never-renews" => false,
            Some(t) => {
                std::time::Duration::try_from(t.expires_at.duration_since(jiff::Timestamp::now()))
                    .unwrap_or_default()
                    < cfg.threshold
            }
        };
        let recently = state
            .asked
            .get(key)
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1));
        if due && !recently {
            state.asked.insert(key.clone(), Instant::now());
            match acr.get_authorization_token(key).await {
                Ok(t) => {
                    state.tokens.insert(key.clone(), t);
                }
                Err(e) => {
                    eprintln!("naive_refresher: token {key}: {e}");
                    let message = match e.missing_permission() {
                        Some(p) if flaw != "vague-event" => {
                            format!("ACR refused the token for {key}: the role lacks {p}")
                        }
                        _ => format!("ACR refused the token for {key}"),
                    };
                    warn(client, state, "default", "TokenRefused", message).await;
                }
            }
        }
        let hosts = match &wanted.instance {
            None => {
                let mut hosts = vec![
                    format!("registry.{}.aliyuncs.com", wanted.region),
                    format!("registry-vpc.{}.aliyuncs.com", wanted.region),
                ];
                if flaw == "glob-key" {
                    hosts.push("*.aliyuncs.com".into());
                }
                hosts
            }
            Some(instance) => {
                let id = (wanted.region.clone(), instance.clone());
                if !state.domains.contains_key(&id) {
                    match acr.list_instance_domains(&wanted.region, instance).await {
                        Ok(d) => {
                            state.domains.insert(id.clone(), d);
                        }
                        Err(e) => eprintln!("naive_refresher: domains of {instance}: {e}"),
                    }
                }
                state.domains.get(&id).cloned().unwrap_or_default()
            }
        };
        if let Some(t) = state.tokens.get(key) {
            for host in hosts {
                auths.insert(
                    host,
                    serde_json::json!({"username": t.username, "password": t.password}),
                );
            }
        }
    }
    let all: Vec<String> = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    let mut served: BTreeSet<String> = match &cfg.namespaces {
        Some(list) => list.iter().filter(|n| all.contains(n)).cloned().collect(),
        None => all.iter().cloned().collect(),
    };
    if flaw == "serves-late" && state.started.elapsed() > Duration::from_millis(1500) {
        served.extend(all.iter().cloned());
    }
    if flaw == "writes-system-namespace" {
        served.insert("kube-public".into());
    }
    if flaw == "deletes-by-name" {
        for ns in all.iter().filter(|n| !served.contains(*n)) {
            let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
            if let Ok(Some(_)) = secrets.get_opt(SECRET).await {
                let _ = secrets.delete(SECRET, &DeleteParams::default()).await;
            }
        }
    }
    if flaw != "keeps-deselected" {
        remove_deselected(client, &served).await?;
    }
    if auths.is_empty() {
        return Ok(());
    }
    let body = serde_json::json!({"auths": auths}).to_string();
    for ns in served {
        serve(client, state, &ns, &body).await?;
    }
    Ok(())
}

/// Writes the Secret (when its bytes change) and the `default` ServiceAccount's entry.
async fn serve(
    client: &kube::Client,
    state: &mut State,
    ns: &str,
    body: &str,
) -> Result<(), String> {
    let flaw = state.flaw;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let existing = secrets.get_opt(SECRET).await.map_err(|e| e.to_string())?;
    let ours = |s: &Secret| {
        s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL))
            .is_some_and(|v| v == LABEL_VALUE)
    };
    if let Some(s) = &existing
        && !ours(s)
        && flaw != "takes-over-named"
    {
        let message = format!(
            "Secret {ns}/{SECRET} exists without label {LABEL}={LABEL_VALUE}; left alone, namespace {ns} not served"
        );
        warn(client, state, ns, "ForeignSecret", message).await;
        return Ok(());
    }
    let unchanged = existing.as_ref().is_some_and(|s| {
        ours(s)
            && s.data
                .as_ref()
                .and_then(|d| d.get(DOCKERCONFIGJSON))
                .is_some_and(|b| b.0 == body.as_bytes())
    });
    if !unchanged || flaw == "rewrites-unchanged" {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(SECRET.into()),
                namespace: Some(ns.into()),
                labels: Some([(LABEL.to_string(), LABEL_VALUE.to_string())].into()),
                ..Default::default()
            },
            type_: Some("kubernetes.io/dockerconfigjson".into()),
            data: Some(
                [(
                    DOCKERCONFIGJSON.to_string(),
                    ByteString(body.as_bytes().to_vec()),
                )]
                .into(),
            ),
            ..Default::default()
        };
        let written = match existing {
            Some(_) => secrets
                .replace(SECRET, &PostParams::default(), &secret)
                .await
                .map(|_| ()),
            None => secrets
                .create(&PostParams::default(), &secret)
                .await
                .map(|_| ()),
        };
        if written.is_err() {
            return Ok(()); // namespace going away, or changed meanwhile: next cycle
        }
    }
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let Ok(Some(sa)) = sas.get_opt("default").await else {
        return Ok(());
    };
    let mut refs: Vec<String> = sa
        .image_pull_secrets
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.name)
        .collect();
    if flaw == "overwrites-foreign" && refs != [SECRET] {
        refs = vec![SECRET.to_string()];
    } else if !refs.iter().any(|r| r == SECRET) {
        refs.push(SECRET.to_string());
    } else {
        return Ok(());
    }
    patch_entries(&sas, &refs).await;
    Ok(())
}

async fn patch_entries(sas: &Api<ServiceAccount>, refs: &[String]) {
    let list: Vec<_> = refs
        .iter()
        .map(|n| serde_json::json!({"name": n}))
        .collect();
    let _ = sas
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"imagePullSecrets": list})),
        )
        .await;
}

/// Removes the entry and the Secret from every namespace no longer served.
async fn remove_deselected(client: &kube::Client, served: &BTreeSet<String>) -> Result<(), String> {
    let ours: Api<Secret> = Api::all(client.clone());
    let list = ours
        .list(&ListParams::default().labels(&format!("{LABEL}={LABEL_VALUE}")))
        .await
        .map_err(|e| e.to_string())?;
    for s in list.items {
        let Some(ns) = s.metadata.namespace else {
            continue;
        };
        if served.contains(&ns) {
            continue;
        }
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
        if let Ok(Some(sa)) = sas.get_opt("default").await {
            let refs: Vec<String> = sa
                .image_pull_secrets
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.name)
                .collect();
            if refs.iter().any(|r| r == SECRET) {
                let keep: Vec<String> = refs.into_iter().filter(|r| r != SECRET).collect();
                patch_entries(&sas, &keep).await;
            }
        }
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
        let _ = secrets.delete(SECRET, &DeleteParams::default()).await;
    }
    Ok(())
}
