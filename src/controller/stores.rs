//! The controller's view of the cluster, read without API calls: compact stores of Namespaces,
//! ServiceAccounts and the Secrets at the pull Secret's name (ours or not), each fed by one watch
//! (a paged LIST, then WATCH) and holding only what the planner and a guarded write need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;

use crate::desired::{
    DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    ObservedAccount, ObservedSecret, OtherMetadata,
};

use super::backoff::WatchBackoff;

/// Objects per page of the initial LIST (bounds the memory a LIST needs).
const PAGE_SIZE: u32 = 500;
/// Distinct Secret contents kept for sharing (all namespaces normally hold one, two mid-renewal).
const INTERNED: usize = 4;

/// The three watched kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Namespaces = 0,
    Accounts = 1,
    Secrets = 2,
}

/// One object as a store keeps it.
enum Observed {
    Namespace {
        name: String,
        deleting: bool,
    },
    Account {
        namespace: String,
        account: ObservedAccount,
    },
    Secret {
        namespace: String,
        secret: ObservedSecret,
    },
}

impl Observed {
    fn namespace(&self) -> &str {
        match self {
            Observed::Namespace { name, .. } => name,
            Observed::Account { namespace, .. } | Observed::Secret { namespace, .. } => namespace,
        }
    }
}

#[derive(Default)]
struct Maps {
    /// Namespace name → being deleted.
    namespaces: HashMap<String, bool>,
    /// Namespace → its ServiceAccounts, sorted by name.
    accounts: HashMap<String, Vec<ObservedAccount>>,
    /// Namespace → the Secret at the pull Secret's name.
    secrets: HashMap<String, ObservedSecret>,
}

/// One namespace as the stores see it.
pub struct NamespaceView<'a> {
    /// The namespace is being deleted.
    pub deleting: bool,
    /// Its ServiceAccounts.
    pub accounts: &'a [ObservedAccount],
    /// The Secret at the pull Secret's name.
    pub secret: Option<&'a ObservedSecret>,
}

/// Called with a namespace whose observed state changed.
pub type OnChange = Arc<dyn Fn(&str) + Send + Sync>;

/// The stores; shared behind an `Arc`.
pub struct Stores {
    maps: RwLock<Maps>,
    ready: watch::Sender<[bool; 3]>,
    interned: Mutex<Vec<Arc<[u8]>>>,
}

impl Default for Stores {
    fn default() -> Self {
        Self {
            maps: RwLock::default(),
            ready: watch::Sender::new([false; 3]),
            interned: Mutex::default(),
        }
    }
}

impl Stores {
    /// Runs `f` on namespace `ns` as stored (`None`: no such namespace).
    pub fn with_namespace<R>(&self, ns: &str, f: impl FnOnce(Option<NamespaceView<'_>>) -> R) -> R {
        let maps = self.maps.read().unwrap_or_else(|p| p.into_inner());
        let view = maps.namespaces.get(ns).map(|deleting| NamespaceView {
            deleting: *deleting,
            accounts: maps.accounts.get(ns).map(Vec::as_slice).unwrap_or_default(),
            secret: maps.secrets.get(ns),
        });
        f(view)
    }

    /// Every stored namespace.
    pub fn namespaces(&self) -> Vec<String> {
        let maps = self.maps.read().unwrap_or_else(|p| p.into_inner());
        maps.namespaces.keys().cloned().collect()
    }

    /// Waits until every store has completed its first LIST.
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|r| r.iter().all(|k| *k)).await;
    }

    /// Feeds the stores from watches until the returned future is dropped; `on_change` hears of
    /// every namespace whose stored state changed after the first LIST.
    pub async fn feed(self: Arc<Self>, client: Client, secret_name: &str, on_change: OnChange) {
        let listing = watcher::Config::default().page_size(PAGE_SIZE);
        let namespaces = watcher(Api::<Namespace>::all(client.clone()), listing.clone());
        let accounts = watcher(Api::<ServiceAccount>::all(client.clone()), listing.clone());
        // By name, not by label: a foreign Secret of that name must be seen (and left alone), and
        // RBAC can grant list/watch of exactly this name.
        let secrets = watcher(
            Api::<Secret>::all(client),
            listing.fields(&format!("metadata.name={secret_name}")),
        );
        let this = &self;
        let on_change = &on_change;
        futures::join!(
            this.feed_kind(Kind::Namespaces, namespaces, observe_namespace, on_change),
            this.feed_kind(Kind::Accounts, accounts, observe_account, on_change),
            this.feed_kind(
                Kind::Secrets,
                secrets,
                |s| self.observe_secret(s),
                on_change
            ),
        );
    }

    async fn feed_kind<K>(
        &self,
        kind: Kind,
        stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
        observe: impl Fn(K) -> Option<Observed>,
        on_change: &OnChange,
    ) {
        let mut stream = std::pin::pin!(stream.backoff(WatchBackoff::default()));
        let mut listing: Vec<Observed> = Vec::new();
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(%error, ?kind, "watch");
                    continue;
                }
            };
            match event {
                watcher::Event::Init => listing.clear(),
                watcher::Event::InitApply(object) => listing.extend(observe(object)),
                watcher::Event::InitDone => {
                    let relisted = self.ready.borrow()[kind as usize];
                    let changed = self.replace(kind, std::mem::take(&mut listing));
                    listing.shrink_to_fit();
                    self.ready.send_modify(|r| r[kind as usize] = true);
                    if relisted {
                        for ns in changed {
                            on_change(&ns);
                        }
                    }
                }
                watcher::Event::Apply(object) => {
                    if let Some(observed) = observe(object) {
                        let ns = observed.namespace().to_owned();
                        if self.apply(observed) {
                            on_change(&ns);
                        }
                    }
                }
                watcher::Event::Delete(object) => {
                    if let Some(observed) = observe(object) {
                        let ns = observed.namespace().to_owned();
                        self.delete(observed);
                        on_change(&ns);
                    }
                }
            }
        }
    }

    /// Stores `observed`; whether anything the planner reads changed.
    fn apply(&self, observed: Observed) -> bool {
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        match observed {
            Observed::Namespace { name, deleting } => {
                maps.namespaces.insert(name, deleting) != Some(deleting)
            }
            Observed::Account { namespace, account } => {
                let accounts = maps.accounts.entry(namespace).or_default();
                match accounts.binary_search_by(|a| a.name.cmp(&account.name)) {
                    Ok(i) => {
                        let changed = accounts[i].pull_secrets != account.pull_secrets;
                        accounts[i] = account;
                        changed
                    }
                    Err(i) => {
                        accounts.insert(i, account);
                        true
                    }
                }
            }
            Observed::Secret { namespace, secret } => {
                match maps.secrets.insert(namespace, secret.clone()) {
                    Some(old) => {
                        old.managed != secret.managed
                            || old.dockerconfigjson_type != secret.dockerconfigjson_type
                            || old.data != secret.data
                    }
                    None => true,
                }
            }
        }
    }

    fn delete(&self, observed: Observed) {
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        match observed {
            Observed::Namespace { name, .. } => {
                maps.namespaces.remove(&name);
            }
            Observed::Account { namespace, account } => {
                if let Some(accounts) = maps.accounts.get_mut(&namespace) {
                    accounts.retain(|a| a.name != account.name);
                    if accounts.is_empty() {
                        maps.accounts.remove(&namespace);
                    }
                }
            }
            Observed::Secret { namespace, .. } => {
                maps.secrets.remove(&namespace);
            }
        }
    }

    /// Replaces one kind's store with a complete listing; the namespaces it touched.
    fn replace(&self, kind: Kind, listing: Vec<Observed>) -> Vec<String> {
        let mut touched: Vec<String> = listing.iter().map(|o| o.namespace().to_owned()).collect();
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        match kind {
            Kind::Namespaces => {
                touched.extend(maps.namespaces.keys().cloned());
                maps.namespaces = HashMap::with_capacity(listing.len());
            }
            Kind::Accounts => {
                touched.extend(maps.accounts.keys().cloned());
                maps.accounts = HashMap::new();
            }
            Kind::Secrets => {
                touched.extend(maps.secrets.keys().cloned());
                maps.secrets = HashMap::with_capacity(listing.len());
            }
        }
        drop(maps);
        for observed in listing {
            self.apply(observed);
        }
        touched.sort_unstable();
        touched.dedup();
        touched
    }

    /// Records a Secret as our own write returned it, if the store still holds the version the
    /// write replaced (`None`: no Secret): the watch's echo of the write then changes nothing,
    /// and a newer version the watch already delivered is never replaced by an older one.
    pub fn written_secret(&self, replaced: Option<&str>, secret: Secret) {
        let Some(Observed::Secret { namespace, secret }) = self.observe_secret(secret) else {
            return;
        };
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        let stored = maps
            .secrets
            .get(&namespace)
            .map(|s| s.resource_version.as_str());
        if stored == replaced {
            maps.secrets.insert(namespace, secret);
        }
    }

    /// Forgets a Secret our own delete removed, if the store still holds the deleted version.
    pub fn deleted_secret(&self, namespace: &str, deleted: &str) {
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        if maps
            .secrets
            .get(namespace)
            .map(|s| s.resource_version.as_str())
            == Some(deleted)
        {
            maps.secrets.remove(namespace);
        }
    }

    /// Records a ServiceAccount as our own patch returned it; see [`Stores::written_secret`].
    pub fn written_account(&self, replaced: &str, account: ServiceAccount) {
        let Some(Observed::Account { namespace, account }) = observe_account(account) else {
            return;
        };
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        if let Some(accounts) = maps.accounts.get_mut(&namespace)
            && let Ok(i) = accounts.binary_search_by(|a| a.name.cmp(&account.name))
            && accounts[i].resource_version == replaced
        {
            accounts[i] = account;
        }
    }

    fn observe_secret(&self, secret: Secret) -> Option<Observed> {
        let metadata = secret.metadata;
        let labels = metadata.labels.unwrap_or_default();
        let annotations = metadata.annotations.unwrap_or_default();
        let managed = labels
            .get(MANAGED_BY_LABEL)
            .is_some_and(|v| v == MANAGED_BY_VALUE);
        let only_ours = annotations.is_empty() && labels.len() == usize::from(managed);
        let data = secret
            .data
            .and_then(|mut d| d.remove(DOCKERCONFIGJSON_KEY))
            .map(|bytes| self.intern(bytes.0));
        Some(Observed::Secret {
            namespace: metadata.namespace?,
            secret: ObservedSecret {
                managed,
                dockerconfigjson_type: secret.type_.as_deref() == Some(DOCKERCONFIGJSON_TYPE),
                data,
                resource_version: metadata.resource_version.unwrap_or_default(),
                uid: metadata.uid.unwrap_or_default(),
                other_metadata: (!only_ours).then(|| {
                    Box::new(OtherMetadata {
                        labels,
                        annotations,
                    })
                }),
            },
        })
    }

    /// Shares equal Secret contents between namespaces (10,000 Secrets, one or two contents).
    fn intern(&self, bytes: Vec<u8>) -> Arc<[u8]> {
        let mut interned = self.interned.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = interned.iter().position(|b| **b == *bytes) {
            let shared = interned.remove(i);
            interned.push(shared.clone());
            return shared;
        }
        let shared: Arc<[u8]> = bytes.into();
        if interned.len() == INTERNED {
            interned.remove(0);
        }
        interned.push(shared.clone());
        shared
    }
}

fn observe_namespace(namespace: Namespace) -> Option<Observed> {
    Some(Observed::Namespace {
        deleting: namespace.metadata.deletion_timestamp.is_some(),
        name: namespace.metadata.name?,
    })
}

fn observe_account(account: ServiceAccount) -> Option<Observed> {
    Some(Observed::Account {
        namespace: account.metadata.namespace?,
        account: ObservedAccount {
            name: account.metadata.name?,
            pull_secrets: account
                .image_pull_secrets
                .into_iter()
                .flatten()
                .map(|r| r.name)
                .collect(),
            resource_version: account.metadata.resource_version.unwrap_or_default(),
        },
    })
}
