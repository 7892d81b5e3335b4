//! Desired state, computed from scratch by pure functions: which `.dockerconfigjson` keys are
//! written with which token, the Secret's exact bytes, and what changes a namespace needs.
//!
//! The key rule (README "The refresher"): tokens are region-bound, so a glob key such as
//! `registry.*.aliyuncs.com` is never written — kubelet would offer one region's token to every
//! region. Each pattern is instead expanded to the concrete hosts it covers in the regions the
//! refresher serves, each with the token of its own (edition, region, instance).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use serde::{Deserialize, Serialize};

use crate::acr::{Instance, RegistryToken, TokenKey};
use crate::config::{Config, ServiceAccountSelector};
use crate::registry_domain::{Edition, NetworkVariant, RegistryDomain};

/// Label on every object the refresher owns.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`] on the refresher's objects.
pub const MANAGED_BY_VALUE: &str = "acr-refresher";
/// The default name of the pull Secret in every served namespace.
pub const DEFAULT_SECRET_NAME: &str = "aliyun-acr-credential";
/// The Secret type kubelet reads pull credentials from.
pub const DOCKERCONFIGJSON_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// The data key of that Secret type.
pub const DOCKERCONFIGJSON_KEY: &str = ".dockerconfigjson";
/// The seed's placeholder instance name in `xxx-registry.*.cr.aliyuncs.com`: stands for no instance.
pub const PLACEHOLDER_INSTANCE_NAME: &str = "xxx";

/// One `.dockerconfigjson` key and the token that serves it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RegistryKey {
    /// The key as written (a concrete host, plus the pattern's port/path if it had one).
    pub key: String,
    /// The token whose credentials go under the key.
    pub token: TokenKey,
}

/// Cloud facts the key computation needs, gathered by the controller (cached).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    /// `ListInstanceEndpoint` domains per (region, instance id).
    pub instance_domains: BTreeMap<(String, String), Vec<String>>,
    /// `ListInstance` results per region.
    pub instances: BTreeMap<String, Vec<Instance>>,
}

/// Which discovery calls the configuration requires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryNeeds {
    /// (region, instance id) of `acr-registry-info` items without `domains`.
    pub instance_domains: BTreeSet<(String, String)>,
    /// Regions whose Enterprise Edition instances an `acr-registry` pattern may cover.
    pub instance_lists: BTreeSet<String>,
}

/// The regions served: the node's region, every `regionId` in `acr-registry-info`, and every
/// literal region in an `acr-registry` pattern.
pub fn served_regions(config: &Config, node_region: &str) -> BTreeSet<String> {
    let mut regions = BTreeSet::from([node_region.to_owned()]);
    for item in &config.registry_info {
        if let Some(region) = &item.region_id {
            regions.insert(region.clone());
        }
    }
    for pattern in &config.registry_patterns {
        if let Some(scope) = pattern.scope()
            && let crate::config::LabelGlob::Exact(region) = &scope.region
        {
            regions.insert(region.clone());
        }
    }
    regions
}

/// The discovery calls needed before [`registry_keys`] can be computed.
pub fn discovery_needs(config: &Config, node_region: &str) -> DiscoveryNeeds {
    let mut needs = DiscoveryNeeds::default();
    for item in &config.registry_info {
        if let Some(id) = &item.instance_id
            && item.domains.is_empty()
        {
            let region = item
                .region_id
                .clone()
                .unwrap_or_else(|| node_region.to_owned());
            needs
                .instance_domains
                .insert((region, id.as_str().to_owned()));
        }
    }
    let regions = served_regions(config, node_region);
    for pattern in &config.registry_patterns {
        let Some(scope) = pattern.scope() else {
            continue;
        };
        if scope.edition != Edition::Enterprise || is_placeholder(&scope.instance_name) {
            continue;
        }
        needs
            .instance_lists
            .extend(regions.iter().filter(|r| scope.region.matches(r)).cloned());
    }
    needs
}

fn is_placeholder(name: &Option<crate::config::LabelGlob>) -> bool {
    matches!(name, Some(crate::config::LabelGlob::Exact(n)) if n == PLACEHOLDER_INSTANCE_NAME)
}

/// Every key to write, each with its token; `acr-registry-info` first, then `acr-registry`
/// patterns. A key already taken keeps its first token. Also returns notes on what was skipped.
pub fn registry_keys(
    config: &Config,
    node_region: &str,
    discovery: &Discovery,
) -> (Vec<RegistryKey>, Vec<String>) {
    let mut keys: BTreeMap<String, TokenKey> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut add = |key: String, token: TokenKey| {
        keys.entry(key).or_insert(token);
    };

    for item in &config.registry_info {
        let region = item
            .region_id
            .clone()
            .unwrap_or_else(|| node_region.to_owned());
        match &item.instance_id {
            None => {
                let token = TokenKey::personal(&region);
                let domains = if item.domains.is_empty() {
                    [NetworkVariant::PUBLIC, NetworkVariant::VPC]
                        .iter()
                        .filter_map(|n| RegistryDomain::personal(&region, *n).ok())
                        .map(|d| d.host())
                        .collect()
                } else {
                    item.domains.clone()
                };
                for domain in domains {
                    add(domain, token.clone());
                }
            }
            Some(id) => {
                let token = TokenKey::enterprise(&region, id.as_str());
                let domains = if item.domains.is_empty() {
                    match discovery
                        .instance_domains
                        .get(&(region.clone(), id.as_str().to_owned()))
                    {
                        Some(domains) => domains.clone(),
                        None => {
                            notes.push(format!(
                                "instance {} in {region}: domains not discovered yet",
                                id.as_str()
                            ));
                            Vec::new()
                        }
                    }
                } else {
                    item.domains.clone()
                };
                for domain in domains {
                    add(domain, token.clone());
                }
            }
        }
    }

    let regions = served_regions(config, node_region);
    for pattern in &config.registry_patterns {
        let Some(scope) = pattern.scope() else {
            notes.push(format!(
                "acr-registry pattern {pattern} is not an ACR registry host; skipped"
            ));
            continue;
        };
        // Port and path of the pattern stay on the key, so kubelet's port and path-prefix rules
        // apply exactly as the user wrote them.
        let suffix = &pattern.as_str()[pattern.host().len()..];
        for region in regions.iter().filter(|r| scope.region.matches(r)) {
            let candidates: Vec<(RegistryDomain, TokenKey)> = match scope.edition {
                Edition::Personal => RegistryDomain::personal(region, scope.network)
                    .ok()
                    .map(|d| (d, TokenKey::personal(region)))
                    .into_iter()
                    .collect(),
                Edition::Enterprise if is_placeholder(&scope.instance_name) => Vec::new(),
                Edition::Enterprise => discovery
                    .instances
                    .get(region)
                    .into_iter()
                    .flatten()
                    .filter(|i| {
                        scope
                            .instance_name
                            .as_ref()
                            .is_some_and(|n| n.matches(&i.instance_name))
                    })
                    .filter_map(|i| {
                        RegistryDomain::enterprise(&i.instance_name, region, scope.network)
                            .ok()
                            .map(|d| (d, TokenKey::enterprise(region, &i.instance_id)))
                    })
                    .collect(),
            };
            for (domain, token) in candidates {
                if pattern.covers_domain(&domain) || !suffix.is_empty() {
                    add(format!("{}{suffix}", domain.host()), token);
                }
            }
        }
    }
    let keys = keys
        .into_iter()
        .map(|(key, token)| RegistryKey { key, token })
        .collect();
    (keys, notes)
}

/// The distinct tokens `keys` need: one ACR call each per renewal.
pub fn tokens_needed(keys: &[RegistryKey]) -> BTreeSet<TokenKey> {
    keys.iter().map(|k| k.token.clone()).collect()
}

/// One `auths` entry of a `.dockerconfigjson`; Debug redacts the password and `auth`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthEntry {
    /// Registry user name.
    #[serde(default)]
    pub username: String,
    /// Registry password (secret).
    #[serde(default)]
    pub password: String,
    /// base64(`username:password`) (secret).
    #[serde(default)]
    pub auth: String,
}

impl AuthEntry {
    /// The entry for `token`.
    pub fn for_token(token: &RegistryToken) -> Self {
        Self {
            username: token.username.clone(),
            password: token.password.clone(),
            auth: STANDARD.encode(format!("{}:{}", token.username, token.password)),
        }
    }
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEntry")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("auth", &"<redacted>")
            .finish()
    }
}

/// `auths` of a `.dockerconfigjson`, sorted by key so that equal content gives equal bytes.
pub type Auths = BTreeMap<String, AuthEntry>;

#[derive(Serialize, Deserialize)]
struct DockerConfigJson {
    auths: Auths,
}

/// The `auths` to write: every key with its token's credentials. A key whose token is
/// unavailable keeps the entry `current` already has, so a cloud failure never removes
/// credentials that may still work.
pub fn desired_auths(
    keys: &[RegistryKey],
    tokens: &BTreeMap<TokenKey, RegistryToken>,
    current: Option<&Auths>,
) -> Auths {
    let mut auths = Auths::new();
    for RegistryKey { key, token } in keys {
        if let Some(token) = tokens.get(token) {
            auths.insert(key.clone(), AuthEntry::for_token(token));
        } else if let Some(entry) = current.and_then(|c| c.get(key)) {
            auths.insert(key.clone(), entry.clone());
        }
    }
    auths
}

/// The exact `.dockerconfigjson` bytes for `auths`.
pub fn dockerconfigjson(auths: &Auths) -> Vec<u8> {
    serde_json::to_vec(&DockerConfigJson {
        auths: auths.clone(),
    })
    .unwrap_or_else(|_| b"{\"auths\":{}}".to_vec())
}

/// Reads the `auths` of a `.dockerconfigjson` Secret; `None` if absent or unreadable.
pub fn secret_auths(secret: &Secret) -> Option<Auths> {
    let bytes = &secret.data.as_ref()?.get(DOCKERCONFIGJSON_KEY)?.0;
    serde_json::from_slice::<DockerConfigJson>(bytes)
        .ok()
        .map(|d| d.auths)
}

/// Whether `secret` carries the refresher's managed-by label.
pub fn is_managed(secret: &Secret) -> bool {
    secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == MANAGED_BY_VALUE)
}

/// What one namespace looks like now, and what it should get.
#[derive(Debug)]
pub struct NamespaceInputs<'a> {
    /// Whether `watch-namespace` selects the namespace (and it is not being deleted).
    pub served: bool,
    /// `service-account`.
    pub service_accounts_selected: &'a ServiceAccountSelector,
    /// The pull Secret's name.
    pub secret_name: &'a str,
    /// The content the Secret should have; `None` or empty means "no credentials to write".
    pub desired: Option<&'a Auths>,
    /// The Secret currently at `secret_name`, ours or not.
    pub existing: Option<&'a Secret>,
    /// Names of other Secrets in the namespace carrying our label (left from an older name).
    pub stale_managed: Vec<String>,
    /// The namespace's ServiceAccounts.
    pub service_accounts: &'a [ServiceAccount],
}

/// How the pull Secret must change.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretWrite {
    /// Nothing to write.
    Unchanged,
    /// Create it with these `.dockerconfigjson` bytes.
    Create(Vec<u8>),
    /// Replace its content with these bytes.
    Update(Vec<u8>),
}

impl fmt::Debug for SecretWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecretWrite::Unchanged => "Unchanged",
            SecretWrite::Create(_) => "Create(<redacted>)",
            SecretWrite::Update(_) => "Update(<redacted>)",
        })
    }
}

/// The changes one namespace needs; empty when it is already as desired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespacePlan {
    /// The pull Secret.
    pub secret: SecretWrite,
    /// ServiceAccounts that get the Secret's name appended to `imagePullSecrets`.
    pub add_pull_secret: Vec<String>,
    /// (ServiceAccount, Secret name) entries to remove from `imagePullSecrets`.
    pub remove_pull_secret: Vec<(String, String)>,
    /// Managed Secrets to delete (after their entries are removed).
    pub delete_secrets: Vec<String>,
    /// A Secret with our name exists and is not ours: nothing was planned for it.
    pub foreign_secret: bool,
}

impl NamespacePlan {
    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.secret == SecretWrite::Unchanged
            && self.add_pull_secret.is_empty()
            && self.remove_pull_secret.is_empty()
            && self.delete_secrets.is_empty()
    }
}

fn pull_secret_names(sa: &ServiceAccount) -> impl Iterator<Item = &str> {
    sa.image_pull_secrets
        .iter()
        .flatten()
        .map(|r| r.name.as_str())
}

/// Computes the changes a namespace needs (level-triggered: from the current state only).
pub fn plan_namespace(inputs: &NamespaceInputs<'_>) -> NamespacePlan {
    let ours = inputs.existing.filter(|s| is_managed(s));
    let foreign_secret = inputs.existing.is_some() && ours.is_none();
    let mut plan = NamespacePlan {
        secret: SecretWrite::Unchanged,
        add_pull_secret: Vec::new(),
        remove_pull_secret: Vec::new(),
        delete_secrets: Vec::new(),
        foreign_secret,
    };
    let sa_name = |sa: &ServiceAccount| sa.metadata.name.clone().unwrap_or_default();
    let has_entry = |sa: &ServiceAccount, name: &str| pull_secret_names(sa).any(|n| n == name);

    // Secrets we own under another name are always removed, entries first.
    for stale in &inputs.stale_managed {
        for sa in inputs
            .service_accounts
            .iter()
            .filter(|sa| has_entry(sa, stale))
        {
            plan.remove_pull_secret.push((sa_name(sa), stale.clone()));
        }
        plan.delete_secrets.push(stale.clone());
    }

    if !inputs.served {
        if ours.is_some() {
            for sa in inputs
                .service_accounts
                .iter()
                .filter(|sa| has_entry(sa, inputs.secret_name))
            {
                plan.remove_pull_secret
                    .push((sa_name(sa), inputs.secret_name.to_owned()));
            }
            plan.delete_secrets.push(inputs.secret_name.to_owned());
        }
        return plan;
    }

    if foreign_secret {
        return plan;
    }
    let desired = inputs.desired.filter(|d| !d.is_empty());
    if let Some(desired) = desired {
        let bytes = dockerconfigjson(desired);
        plan.secret = match ours {
            None => SecretWrite::Create(bytes),
            Some(secret) => {
                let current = secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(DOCKERCONFIGJSON_KEY));
                let right_type = secret.type_.as_deref() == Some(DOCKERCONFIGJSON_TYPE);
                if right_type && current.is_some_and(|c| c.0 == bytes) {
                    SecretWrite::Unchanged
                } else {
                    SecretWrite::Update(bytes)
                }
            }
        };
    }
    let secret_will_exist = ours.is_some() || matches!(plan.secret, SecretWrite::Create(_));
    if !secret_will_exist {
        return plan;
    }
    for sa in inputs.service_accounts {
        let name = sa_name(sa);
        let selected = inputs.service_accounts_selected.includes(&name);
        let present = has_entry(sa, inputs.secret_name);
        if selected && !present {
            plan.add_pull_secret.push(name);
        } else if !selected && present {
            plan.remove_pull_secret
                .push((name, inputs.secret_name.to_owned()));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use chrono::{DateTime, Utc};
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::LocalObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let data = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&data).unwrap().0
    }

    fn keys_of(keys: &[RegistryKey]) -> Vec<(String, String)> {
        keys.iter()
            .map(|k| (k.key.clone(), k.token.to_string()))
            .collect()
    }

    #[test]
    fn seed_defaults_give_concrete_keys_for_the_node_region_only() {
        let (keys, notes) = registry_keys(&Config::default(), "cn-hangzhou", &Discovery::default());
        assert_eq!(
            keys_of(&keys),
            [
                (
                    "registry-vpc.cn-hangzhou.aliyuncs.com".into(),
                    "personal/cn-hangzhou".into()
                ),
                (
                    "registry.cn-hangzhou.aliyuncs.com".into(),
                    "personal/cn-hangzhou".into()
                ),
            ]
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert!(
            discovery_needs(&Config::default(), "cn-hangzhou")
                .instance_lists
                .is_empty()
        );
        assert_eq!(tokens_needed(&keys).len(), 1);
    }

    #[test]
    fn every_written_key_makes_kubelet_pick_the_token_of_its_own_region() {
        let config = config(&[(
            "acr-registry-info",
            "- instanceId: \"\"\n  regionId: cn-beijing\n",
        )]);
        let (keys, _) = registry_keys(&config, "cn-hangzhou", &Discovery::default());
        let keyring = crate::keyring::DockerKeyring::from_auths(
            keys.iter()
                .map(|k| (k.key.as_str(), k.token.region.clone())),
        );
        for region in ["cn-hangzhou", "cn-beijing"] {
            for host in ["registry", "registry-vpc"] {
                let image = format!("{host}.{region}.aliyuncs.com/ns/app");
                assert_eq!(keyring.lookup(&image), vec![&region.to_string()], "{image}");
            }
        }
        assert!(
            keyring
                .lookup("registry-intl.cn-hangzhou.aliyuncs.com/ns/app")
                .is_empty()
        );
        assert!(keys.iter().all(|k| !k.key.contains('*')));
    }

    #[test]
    fn enterprise_items_use_given_or_discovered_domains() {
        let config = config(&[(
            "acr-registry-info",
            "- instanceId: cri-aaa\n  regionId: cn-beijing\n  domains: a-registry.cn-beijing.cr.aliyuncs.com\n- instanceId: cri-bbb\n",
        )]);
        let needs = discovery_needs(&config, "cn-hangzhou");
        assert_eq!(
            needs.instance_domains,
            BTreeSet::from([("cn-hangzhou".to_owned(), "cri-bbb".to_owned())])
        );
        let mut discovery = Discovery::default();
        let (keys, notes) = registry_keys(&config, "cn-hangzhou", &discovery);
        assert_eq!(notes.len(), 1);
        assert!(
            keys.iter()
                .any(|k| k.key == "a-registry.cn-beijing.cr.aliyuncs.com"
                    && k.token == TokenKey::enterprise("cn-beijing", "cri-aaa"))
        );
        discovery.instance_domains.insert(
            ("cn-hangzhou".into(), "cri-bbb".into()),
            vec!["b-registry.cn-hangzhou.cr.aliyuncs.com".into()],
        );
        let (keys, notes) = registry_keys(&config, "cn-hangzhou", &discovery);
        assert!(notes.is_empty());
        assert!(
            keys.iter()
                .any(|k| k.key == "b-registry.cn-hangzhou.cr.aliyuncs.com"
                    && k.token == TokenKey::enterprise("cn-hangzhou", "cri-bbb"))
        );
    }

    #[test]
    fn enterprise_patterns_expand_to_listed_instances() {
        let config = config(&[("acr-registry", "team-*-registry.*.cr.aliyuncs.com")]);
        let needs = discovery_needs(&config, "cn-hangzhou");
        assert_eq!(
            needs.instance_lists,
            BTreeSet::from(["cn-hangzhou".to_owned()])
        );
        let mut discovery = Discovery::default();
        discovery.instances.insert(
            "cn-hangzhou".into(),
            vec![
                Instance {
                    instance_id: "cri-1".into(),
                    instance_name: "team-a".into(),
                    region: "cn-hangzhou".into(),
                },
                Instance {
                    instance_id: "cri-2".into(),
                    instance_name: "other".into(),
                    region: "cn-hangzhou".into(),
                },
            ],
        );
        let (keys, _) = registry_keys(&config, "cn-hangzhou", &discovery);
        assert_eq!(
            keys_of(&keys),
            [(
                "team-a-registry.cn-hangzhou.cr.aliyuncs.com".into(),
                "enterprise/cn-hangzhou/cri-1".into()
            )]
        );
    }

    fn token(password: &str) -> RegistryToken {
        RegistryToken {
            username: "cr_temp_user".into(),
            password: password.into(),
            expires_at: DateTime::<Utc>::from_timestamp(1_900_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn a_missing_token_keeps_the_current_entry_and_auth_is_base64() {
        let keys = vec![
            RegistryKey {
                key: "a".into(),
                token: TokenKey::personal("r1"),
            },
            RegistryKey {
                key: "b".into(),
                token: TokenKey::personal("r2"),
            },
        ];
        let tokens = BTreeMap::from([(TokenKey::personal("r1"), token("new"))]);
        let current = Auths::from([("b".into(), AuthEntry::for_token(&token("old")))]);
        let auths = desired_auths(&keys, &tokens, Some(&current));
        assert_eq!(auths["a"].password, "new");
        assert_eq!(auths["a"].auth, STANDARD.encode("cr_temp_user:new"));
        assert_eq!(auths["b"].password, "old");
        assert!(desired_auths(&keys, &BTreeMap::new(), None).is_empty());
        assert!(!format!("{:?}", auths["a"]).contains("new"));
    }

    fn sa(name: &str, pull: &[&str]) -> ServiceAccount {
        ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            image_pull_secrets: (!pull.is_empty()).then(|| {
                pull.iter()
                    .map(|n| LocalObjectReference {
                        name: n.to_string(),
                    })
                    .collect()
            }),
            ..Default::default()
        }
    }

    fn secret(managed: bool, bytes: &[u8]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(DEFAULT_SECRET_NAME.into()),
                labels: managed.then(|| {
                    BTreeMap::from([(MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned())])
                }),
                ..Default::default()
            },
            type_: Some(DOCKERCONFIGJSON_TYPE.into()),
            data: Some(BTreeMap::from([(
                DOCKERCONFIGJSON_KEY.to_owned(),
                ByteString(bytes.to_vec()),
            )])),
            ..Default::default()
        }
    }

    fn inputs<'a>(
        served: bool,
        selector: &'a ServiceAccountSelector,
        desired: Option<&'a Auths>,
        existing: Option<&'a Secret>,
        sas: &'a [ServiceAccount],
    ) -> NamespaceInputs<'a> {
        NamespaceInputs {
            served,
            service_accounts_selected: selector,
            secret_name: DEFAULT_SECRET_NAME,
            desired,
            existing,
            stale_managed: Vec::new(),
            service_accounts: sas,
        }
    }

    #[test]
    fn a_new_namespace_gets_the_secret_and_the_selected_sa_entry_appended() {
        let auths = Auths::from([("a".into(), AuthEntry::for_token(&token("p")))]);
        let selector = ServiceAccountSelector::Names(BTreeSet::from(["default".to_owned()]));
        let sas = [sa("default", &["foreign"]), sa("builder", &[])];
        let plan = plan_namespace(&inputs(true, &selector, Some(&auths), None, &sas));
        assert_eq!(plan.secret, SecretWrite::Create(dockerconfigjson(&auths)));
        assert_eq!(plan.add_pull_secret, ["default"]);
        assert!(plan.remove_pull_secret.is_empty());
    }

    #[test]
    fn an_up_to_date_namespace_needs_nothing() {
        let auths = Auths::from([("a".into(), AuthEntry::for_token(&token("p")))]);
        let existing = secret(true, &dockerconfigjson(&auths));
        let sas = [
            sa("default", &["foreign", DEFAULT_SECRET_NAME]),
            sa("x", &[]),
        ];
        let selector = ServiceAccountSelector::Names(BTreeSet::from(["default".to_owned()]));
        let plan = plan_namespace(&inputs(
            true,
            &selector,
            Some(&auths),
            Some(&existing),
            &sas,
        ));
        assert!(plan.is_empty(), "{plan:?}");
        // A renewed token changes the content: exactly one update.
        let renewed = Auths::from([("a".into(), AuthEntry::for_token(&token("q")))]);
        let plan = plan_namespace(&inputs(
            true,
            &selector,
            Some(&renewed),
            Some(&existing),
            &sas,
        ));
        assert_eq!(plan.secret, SecretWrite::Update(dockerconfigjson(&renewed)));
        assert!(plan.add_pull_secret.is_empty());
    }

    #[test]
    fn star_selects_every_sa_and_deselected_sas_lose_only_our_entry() {
        let auths = Auths::from([("a".into(), AuthEntry::for_token(&token("p")))]);
        let existing = secret(true, &dockerconfigjson(&auths));
        let sas = [
            sa("default", &[]),
            sa("other", &["foreign", DEFAULT_SECRET_NAME]),
        ];
        let plan = plan_namespace(&inputs(
            true,
            &ServiceAccountSelector::All,
            Some(&auths),
            Some(&existing),
            &sas,
        ));
        assert_eq!(plan.add_pull_secret, ["default"]);
        let only_default = ServiceAccountSelector::Names(BTreeSet::from(["default".to_owned()]));
        let plan = plan_namespace(&inputs(
            true,
            &only_default,
            Some(&auths),
            Some(&existing),
            &sas,
        ));
        assert_eq!(
            plan.remove_pull_secret,
            [("other".to_owned(), DEFAULT_SECRET_NAME.to_owned())]
        );
    }

    #[test]
    fn a_foreign_secret_with_our_name_is_never_touched() {
        let auths = Auths::from([("a".into(), AuthEntry::for_token(&token("p")))]);
        let foreign = secret(false, b"{\"auths\":{}}");
        let sas = [sa("default", &[])];
        let selector = ServiceAccountSelector::All;
        let plan = plan_namespace(&inputs(true, &selector, Some(&auths), Some(&foreign), &sas));
        assert!(plan.foreign_secret);
        assert!(plan.is_empty());
        let plan = plan_namespace(&inputs(
            false,
            &selector,
            Some(&auths),
            Some(&foreign),
            &sas,
        ));
        assert!(plan.is_empty());
    }

    #[test]
    fn a_namespace_leaving_the_watch_set_loses_our_secret_and_entry_only() {
        let existing = secret(true, b"{}");
        let sas = [
            sa("default", &["foreign", DEFAULT_SECRET_NAME]),
            sa("x", &["foreign"]),
        ];
        let plan = plan_namespace(&inputs(
            false,
            &ServiceAccountSelector::All,
            None,
            Some(&existing),
            &sas,
        ));
        assert_eq!(
            plan.remove_pull_secret,
            [("default".to_owned(), DEFAULT_SECRET_NAME.to_owned())]
        );
        assert_eq!(plan.delete_secrets, [DEFAULT_SECRET_NAME]);
        assert_eq!(plan.secret, SecretWrite::Unchanged);
    }

    #[test]
    fn no_credentials_means_no_empty_secret() {
        let empty = Auths::new();
        let sas = [sa("default", &[])];
        let plan = plan_namespace(&inputs(
            true,
            &ServiceAccountSelector::All,
            Some(&empty),
            None,
            &sas,
        ));
        assert!(plan.is_empty());
    }
}
