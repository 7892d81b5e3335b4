//! The sweep of every namespace: which pull Secrets and `imagePullSecrets` entries the
//! implementation wrote anywhere in the cluster (system namespaces included), whether the
//! configuration selects each place it wrote to, and removing what it left between scenarios.
//!
//! "Written by the implementation" means: a pull Secret (`kubernetes.io/dockerconfigjson` or
//! `kubernetes.io/dockercfg`) or a ServiceAccount entry that was not in the cluster when the run
//! began ([`Baseline`]) and that the suite did not create itself (Secrets labelled
//! [`FOREIGN_LABEL`], entries the scenario lists as its own).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

/// Label on Secrets the suite creates as a user would (foreign to the implementation).
pub const FOREIGN_LABEL: &str = "acr-conformance.io/foreign";

/// Which names a configuration key selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Names {
    /// Every name (`watch-namespace: All`, `service-account: *`).
    All,
    /// Exactly these names.
    Only(BTreeSet<String>),
}

impl Names {
    fn includes(&self, name: &str) -> bool {
        match self {
            Names::All => true,
            Names::Only(set) => set.contains(name),
        }
    }

    fn only_default() -> Self {
        Names::Only(BTreeSet::from(["default".to_string()]))
    }

    fn list(value: &str) -> Self {
        let set: BTreeSet<String> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if set.is_empty() {
            Self::only_default()
        } else {
            Names::Only(set)
        }
    }
}

/// The namespaces and ServiceAccounts a configuration selects (docs/conformance.md: the
/// `watch-namespace` and `service-account` keys; both default to `default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Selected namespaces.
    pub namespaces: Names,
    /// Selected ServiceAccounts (in every selected namespace).
    pub service_accounts: Names,
}

impl Default for Selection {
    fn default() -> Self {
        Self {
            namespaces: Names::only_default(),
            service_accounts: Names::only_default(),
        }
    }
}

impl Selection {
    /// The selection of a ConfigMap with exactly these keys.
    pub fn from_config(data: &[(&str, &str)]) -> Self {
        let get = |key: &str| data.iter().find(|(k, _)| *k == key).map(|(_, v)| v.trim());
        let namespaces = match get("watch-namespace") {
            Some(v) if v.eq_ignore_ascii_case("all") => Names::All,
            Some(v) => Names::list(v),
            None => Names::only_default(),
        };
        let service_accounts = match get("service-account") {
            Some("*") => Names::All,
            Some(v) => Names::list(v),
            None => Names::only_default(),
        };
        Self {
            namespaces,
            service_accounts,
        }
    }

    /// Whether the namespace is selected.
    pub fn namespace(&self, ns: &str) -> bool {
        self.namespaces.includes(ns)
    }

    /// Whether the ServiceAccount `ns/sa` is selected.
    pub fn service_account(&self, ns: &str, sa: &str) -> bool {
        self.namespace(ns) && self.service_accounts.includes(sa)
    }
}

/// A pull Secret somewhere in the cluster.
#[derive(Debug, Clone)]
pub struct PullSecret {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The object.
    pub secret: Secret,
}

/// An `imagePullSecrets` entry: (namespace, ServiceAccount, Secret name).
pub type Entry = (String, String, String);

/// What was in the cluster when the run began: never judged, never removed.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    secrets: BTreeSet<(String, String)>,
    entries: BTreeSet<Entry>,
}

/// Everything pull-related in the cluster at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Pull Secrets.
    pub secrets: Vec<PullSecret>,
    /// `imagePullSecrets` entries.
    pub entries: Vec<Entry>,
    /// How many namespaces were looked at.
    pub namespaces: usize,
}

fn is_pull_secret(s: &Secret) -> bool {
    matches!(
        s.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson" | "kubernetes.io/dockercfg")
    )
}

/// Lists every pull Secret and ServiceAccount entry of the cluster.
pub async fn snapshot(client: &kube::Client) -> Result<Snapshot, kube::Error> {
    let secrets: Api<Secret> = Api::all(client.clone());
    let sas: Api<ServiceAccount> = Api::all(client.clone());
    let mut namespaces = BTreeSet::new();
    let mut out = Snapshot::default();
    for s in secrets.list(&ListParams::default()).await?.items {
        let namespace = s.metadata.namespace.clone().unwrap_or_default();
        namespaces.insert(namespace.clone());
        if is_pull_secret(&s) {
            out.secrets.push(PullSecret {
                namespace,
                name: s.metadata.name.clone().unwrap_or_default(),
                secret: s,
            });
        }
    }
    for sa in sas.list(&ListParams::default()).await?.items {
        let namespace = sa.metadata.namespace.clone().unwrap_or_default();
        namespaces.insert(namespace.clone());
        let name = sa.metadata.name.clone().unwrap_or_default();
        for r in sa.image_pull_secrets.unwrap_or_default() {
            out.entries.push((namespace.clone(), name.clone(), r.name));
        }
    }
    out.namespaces = namespaces.len();
    Ok(out)
}

impl Baseline {
    /// What is in the cluster now.
    pub async fn take(client: &kube::Client) -> Result<Self, kube::Error> {
        let snap = snapshot(client).await?;
        Ok(Self {
            secrets: snap
                .secrets
                .into_iter()
                .map(|s| (s.namespace, s.name))
                .collect(),
            entries: snap.entries.into_iter().collect(),
        })
    }
}

/// The part of a snapshot the implementation wrote: not in the baseline, not the suite's own.
pub fn written(snap: Snapshot, baseline: &Baseline, suite_entries: &BTreeSet<Entry>) -> Snapshot {
    let foreign = |s: &Secret| {
        s.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(FOREIGN_LABEL))
    };
    Snapshot {
        secrets: snap
            .secrets
            .into_iter()
            .filter(|s| {
                !foreign(&s.secret)
                    && !baseline
                        .secrets
                        .contains(&(s.namespace.clone(), s.name.clone()))
            })
            .collect(),
        entries: snap
            .entries
            .into_iter()
            .filter(|e| !baseline.entries.contains(e) && !suite_entries.contains(e))
            .collect(),
        namespaces: snap.namespaces,
    }
}

/// Everything the implementation wrote that the selection does not allow: Secrets or entries
/// outside the selected namespaces and ServiceAccounts, entries naming a Secret that does not
/// exist, and an entry listed twice in one ServiceAccount.
pub fn violations(
    selection: &Selection,
    written: &Snapshot,
    all_secrets: &Snapshot,
) -> Vec<String> {
    let mut out = Vec::new();
    for s in &written.secrets {
        if !selection.namespace(&s.namespace) {
            out.push(format!(
                "pull Secret {}/{} in a namespace the configuration does not select",
                s.namespace, s.name
            ));
        }
    }
    let existing: BTreeSet<(&str, &str)> = all_secrets
        .secrets
        .iter()
        .map(|s| (s.namespace.as_str(), s.name.as_str()))
        .collect();
    let mut seen: BTreeMap<&Entry, usize> = BTreeMap::new();
    for e in &written.entries {
        *seen.entry(e).or_default() += 1;
    }
    for ((ns, sa, name), count) in seen {
        if !selection.service_account(ns, sa) {
            out.push(format!(
                "ServiceAccount {ns}/{sa} names {name}, but the configuration does not select that ServiceAccount"
            ));
        } else if !existing.contains(&(ns.as_str(), name.as_str())) {
            out.push(format!(
                "ServiceAccount {ns}/{sa} names {name}, which is not a pull Secret there (stale entry)"
            ));
        }
        if count > 1 {
            out.push(format!(
                "ServiceAccount {ns}/{sa} names {name} {count} times"
            ));
        }
    }
    out
}

/// Removes what an implementation wrote (outside the baseline, not the suite's own Secrets):
/// entries first, then Secrets. Objects that vanish meanwhile are fine.
pub async fn remove_leftovers(
    client: &kube::Client,
    baseline: &Baseline,
) -> Result<(), kube::Error> {
    let left = written(snapshot(client).await?, baseline, &BTreeSet::new());
    let mut by_sa: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (ns, sa, name) in left.entries {
        by_sa.entry((ns, sa)).or_default().push(name);
    }
    for ((ns, sa), names) in by_sa {
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
        let Some(account) = sas.get_opt(&sa).await? else {
            continue;
        };
        let keep: Vec<serde_json::Value> = account
            .image_pull_secrets
            .unwrap_or_default()
            .into_iter()
            .filter(|r| {
                !names.contains(&r.name)
                    || baseline
                        .entries
                        .contains(&(ns.clone(), sa.clone(), r.name.clone()))
            })
            .map(|r| serde_json::json!({"name": r.name}))
            .collect();
        let patch = serde_json::json!({"imagePullSecrets": keep});
        match sas
            .patch(&sa, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    for s in left.secrets {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &s.namespace);
        match secrets.delete(&s.name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(ns: &str, name: &str) -> PullSecret {
        PullSecret {
            namespace: ns.into(),
            name: name.into(),
            secret: Secret::default(),
        }
    }

    fn entry(ns: &str, sa: &str, name: &str) -> Entry {
        (ns.into(), sa.into(), name.into())
    }

    #[test]
    fn selection_follows_the_configuration_keys() {
        let s = Selection::from_config(&[("watch-namespace", " a ,b, a")]);
        assert!(s.namespace("a") && s.namespace("b") && !s.namespace("default"));
        assert!(s.service_account("a", "default") && !s.service_account("a", "sa1"));
        let all = Selection::from_config(&[("watch-namespace", "All"), ("service-account", "*")]);
        assert!(all.service_account("kube-system", "anything"));
        let none = Selection::from_config(&[]);
        assert!(none.service_account("default", "default") && !none.namespace("kube-system"));
    }

    #[test]
    fn writes_outside_the_selection_and_stale_entries_are_violations() {
        let sel = Selection::default();
        let written = Snapshot {
            secrets: vec![secret("default", "x"), secret("kube-system", "x")],
            entries: vec![
                entry("default", "default", "x"),
                entry("default", "builder", "x"),
                entry("default", "default", "gone"),
                entry("kube-public", "default", "x"),
            ],
            namespaces: 3,
        };
        let v = violations(&sel, &written, &written);
        assert_eq!(v.len(), 4, "{v:#?}");
        assert!(v.iter().any(|m| m.contains("kube-system/x")));
        assert!(v.iter().any(|m| m.contains("default/builder")));
        assert!(v.iter().any(|m| m.contains("stale")));
        assert!(v.iter().any(|m| m.contains("kube-public/default")));
    }

    #[test]
    fn a_clean_cluster_has_no_violations() {
        let sel = Selection::default();
        let written = Snapshot {
            secrets: vec![secret("default", "x")],
            entries: vec![entry("default", "default", "x")],
            namespaces: 1,
        };
        assert!(violations(&sel, &written, &written).is_empty());
        let twice = Snapshot {
            entries: vec![
                entry("default", "default", "x"),
                entry("default", "default", "x"),
            ],
            ..written.clone()
        };
        assert_eq!(violations(&sel, &twice, &written).len(), 1);
    }
}
