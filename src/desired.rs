//! Desired state, computed from scratch by pure functions: which `.dockerconfigjson` keys are
//! written with which token, the Secret's exact bytes, and what changes a namespace needs.
//!
//! The key rule (README "The refresher"): tokens are region-bound, so a glob key such as
//! `registry.*.aliyuncs.com` is never written — kubelet would offer one region's token to every
//! region. Each pattern is instead expanded to the concrete hosts it covers in the regions the
//! refresher serves, each with the token of its own (edition, region, instance).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Secret;
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

/// Reads the `auths` of `.dockerconfigjson` bytes; `None` if unreadable.
pub fn parse_auths(bytes: &[u8]) -> Option<Auths> {
    serde_json::from_slice::<DockerConfigJson>(bytes)
        .ok()
        .map(|d| d.auths)
}

/// Reads the `auths` of a `.dockerconfigjson` Secret; `None` if absent or unreadable.
pub fn secret_auths(secret: &Secret) -> Option<Auths> {
    parse_auths(&secret.data.as_ref()?.get(DOCKERCONFIGJSON_KEY)?.0)
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

/// The pull Secret's content in force for every served namespace: the entries whose token is at
/// hand, and the keys whose token is not (a namespace keeps its own entry for those).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretContent {
    auths: Auths,
    missing: Vec<String>,
    bytes: Vec<u8>,
}

impl SecretContent {
    /// The content for `keys` with the `tokens` at hand.
    pub fn new(keys: &[RegistryKey], tokens: &BTreeMap<TokenKey, RegistryToken>) -> Self {
        let auths = desired_auths(keys, tokens, None);
        let missing = keys
            .iter()
            .filter(|k| !tokens.contains_key(&k.token))
            .map(|k| k.key.clone())
            .collect();
        let bytes = dockerconfigjson(&auths);
        Self {
            auths,
            missing,
            bytes,
        }
    }

    /// Whether every key has its token.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// The bytes a namespace whose Secret holds `current` should have; `None` when there is
    /// nothing to write (no credentials at all).
    pub fn bytes_for(&self, current: Option<&[u8]>) -> Option<Cow<'_, [u8]>> {
        if self.missing.is_empty() {
            return (!self.auths.is_empty()).then_some(Cow::Borrowed(self.bytes.as_slice()));
        }
        let current = current.and_then(parse_auths).unwrap_or_default();
        let mut auths = self.auths.clone();
        for key in &self.missing {
            if let Some(entry) = current.get(key) {
                auths.insert(key.clone(), entry.clone());
            }
        }
        (!auths.is_empty()).then(|| Cow::Owned(dockerconfigjson(&auths)))
    }
}

impl fmt::Debug for SecretContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretContent")
            .field("keys", &self.auths.keys().collect::<Vec<_>>())
            .field("missing", &self.missing)
            .finish_non_exhaustive()
    }
}

/// What the planner knows of the Secret at the pull Secret's name (ours or not), as the
/// controller's store keeps it: no more than the plan and a guarded write need.
#[derive(Clone, PartialEq, Eq)]
pub struct ObservedSecret {
    /// Carries [`MANAGED_BY_LABEL`]=[`MANAGED_BY_VALUE`].
    pub managed: bool,
    /// Of type [`DOCKERCONFIGJSON_TYPE`].
    pub dockerconfigjson_type: bool,
    /// The `.dockerconfigjson` bytes (shared between namespaces holding the same content).
    pub data: Option<std::sync::Arc<[u8]>>,
    /// resourceVersion, the precondition of every write.
    pub resource_version: String,
    /// uid, the precondition of a delete.
    pub uid: String,
    /// Labels and annotations other than ours, kept by an update (`None`: only our label).
    pub other_metadata: Option<Box<OtherMetadata>>,
}

/// Labels and annotations a user put on a Secret, carried over by an update.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtherMetadata {
    /// Labels (ours included when present).
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

impl fmt::Debug for ObservedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservedSecret")
            .field("managed", &self.managed)
            .field("dockerconfigjson_type", &self.dockerconfigjson_type)
            .field("data", &self.data.as_ref().map(|_| "<redacted>"))
            .field("resource_version", &self.resource_version)
            .finish_non_exhaustive()
    }
}

/// What the planner knows of a ServiceAccount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedAccount {
    /// Its name.
    pub name: String,
    /// The names in its `imagePullSecrets`, in order.
    pub pull_secrets: Vec<String>,
    /// resourceVersion, the precondition of a patch.
    pub resource_version: String,
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
    /// The content in force; `None` means "no credentials to write".
    pub desired: Option<&'a SecretContent>,
    /// The Secret currently at `secret_name`, ours or not.
    pub existing: Option<&'a ObservedSecret>,
    /// The namespace's ServiceAccounts.
    pub service_accounts: &'a [ObservedAccount],
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
    /// It has another type, which cannot change: delete it (it is ours); it is created again.
    Replace,
}

impl fmt::Debug for SecretWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecretWrite::Unchanged => "Unchanged",
            SecretWrite::Create(_) => "Create(<redacted>)",
            SecretWrite::Update(_) => "Update(<redacted>)",
            SecretWrite::Replace => "Replace",
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
    /// ServiceAccounts whose `imagePullSecrets` entry of the Secret is removed.
    pub remove_pull_secret: Vec<String>,
    /// Delete our Secret (after the entries are removed).
    pub delete_secret: bool,
    /// A Secret with our name exists and is not ours: nothing was planned for it.
    pub foreign_secret: bool,
}

impl NamespacePlan {
    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.secret == SecretWrite::Unchanged
            && self.add_pull_secret.is_empty()
            && self.remove_pull_secret.is_empty()
            && !self.delete_secret
    }
}

/// Computes the changes a namespace needs (level-triggered: from the current state only).
pub fn plan_namespace(inputs: &NamespaceInputs<'_>) -> NamespacePlan {
    let ours = inputs.existing.filter(|s| s.managed);
    let foreign_secret = inputs.existing.is_some() && ours.is_none();
    let mut plan = NamespacePlan {
        secret: SecretWrite::Unchanged,
        add_pull_secret: Vec::new(),
        remove_pull_secret: Vec::new(),
        delete_secret: false,
        foreign_secret,
    };
    let has_entry = |sa: &ObservedAccount| sa.pull_secrets.iter().any(|n| n == inputs.secret_name);

    if !inputs.served {
        if ours.is_some() {
            plan.remove_pull_secret = inputs
                .service_accounts
                .iter()
                .filter(|sa| has_entry(sa))
                .map(|sa| sa.name.clone())
                .collect();
            plan.delete_secret = true;
        }
        return plan;
    }

    if foreign_secret {
        return plan;
    }
    let current = ours.and_then(|s| s.data.as_deref());
    if let Some(bytes) = inputs.desired.and_then(|d| d.bytes_for(current)) {
        plan.secret = match ours {
            None => SecretWrite::Create(bytes.into_owned()),
            Some(secret) if !secret.dockerconfigjson_type => SecretWrite::Replace,
            Some(_) if current == Some(&*bytes) => SecretWrite::Unchanged,
            Some(_) => SecretWrite::Update(bytes.into_owned()),
        };
    }
    let secret_will_exist = ours.is_some() || matches!(plan.secret, SecretWrite::Create(_));
    if !secret_will_exist {
        return plan;
    }
    for sa in inputs.service_accounts {
        let selected = inputs.service_accounts_selected.includes(&sa.name);
        let present = has_entry(sa);
        if selected && !present {
            plan.add_pull_secret.push(sa.name.clone());
        } else if !selected && present {
            plan.remove_pull_secret.push(sa.name.clone());
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use jiff::Timestamp;

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
            expires_at: Timestamp::from_second(1_900_000_000).unwrap(),
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

    fn sa(name: &str, pull: &[&str]) -> ObservedAccount {
        ObservedAccount {
            name: name.into(),
            pull_secrets: pull.iter().map(|n| n.to_string()).collect(),
            resource_version: "1".into(),
        }
    }

    fn secret(managed: bool, bytes: &[u8]) -> ObservedSecret {
        ObservedSecret {
            managed,
            dockerconfigjson_type: true,
            data: Some(bytes.into()),
            resource_version: "1".into(),
            uid: "u".into(),
            other_metadata: None,
        }
    }

    fn content(password: &str) -> SecretContent {
        let keys = [RegistryKey {
            key: "a".into(),
            token: TokenKey::personal("r1"),
        }];
        SecretContent::new(
            &keys,
            &BTreeMap::from([(TokenKey::personal("r1"), token(password))]),
        )
    }

    fn inputs<'a>(
        served: bool,
        selector: &'a ServiceAccountSelector,
        desired: Option<&'a SecretContent>,
        existing: Option<&'a ObservedSecret>,
        sas: &'a [ObservedAccount],
    ) -> NamespaceInputs<'a> {
        NamespaceInputs {
            served,
            service_accounts_selected: selector,
            secret_name: DEFAULT_SECRET_NAME,
            desired,
            existing,
            service_accounts: sas,
        }
    }

    fn bytes(content: &SecretContent) -> Vec<u8> {
        content.bytes_for(None).unwrap().into_owned()
    }

    #[test]
    fn content_with_a_missing_token_keeps_each_namespace_entry_for_it() {
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
        let content = SecretContent::new(&keys, &tokens);
        assert!(!content.is_complete());
        let current = dockerconfigjson(&Auths::from([
            ("b".into(), AuthEntry::for_token(&token("old"))),
            ("gone".into(), AuthEntry::for_token(&token("old"))),
        ]));
        let merged = parse_auths(&content.bytes_for(Some(&current)).unwrap()).unwrap();
        assert_eq!(merged.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(merged["a"].password, "new");
        assert_eq!(merged["b"].password, "old");
        let fresh = parse_auths(&content.bytes_for(None).unwrap()).unwrap();
        assert_eq!(fresh.keys().collect::<Vec<_>>(), ["a"]);
        assert!(
            SecretContent::new(&keys, &BTreeMap::new())
                .bytes_for(None)
                .is_none()
        );
        assert!(!format!("{content:?}").contains("new"));
    }

    #[test]
    fn a_new_namespace_gets_the_secret_and_the_selected_sa_entry_appended() {
        let content = content("p");
        let selector = ServiceAccountSelector::Names(BTreeSet::from(["default".to_owned()]));
        let sas = [sa("default", &["foreign"]), sa("builder", &[])];
        let plan = plan_namespace(&inputs(true, &selector, Some(&content), None, &sas));
        assert_eq!(plan.secret, SecretWrite::Create(bytes(&content)));
        assert_eq!(plan.add_pull_secret, ["default"]);
        assert!(plan.remove_pull_secret.is_empty());
    }

    #[test]
    fn an_up_to_date_namespace_needs_nothing() {
        let content = content("p");
        let existing = secret(true, &bytes(&content));
        let sas = [
            sa("default", &["foreign", DEFAULT_SECRET_NAME]),
            sa("x", &[]),
        ];
        let selector = ServiceAccountSelector::Names(BTreeSet::from(["default".to_owned()]));
        let plan = plan_namespace(&inputs(
            true,
            &selector,
            Some(&content),
            Some(&existing),
            &sas,
        ));
        assert!(plan.is_empty(), "{plan:?}");
        // A renewed token changes the content: exactly one update.
        let renewed = super::tests::content("q");
        let plan = plan_namespace(&inputs(
            true,
            &selector,
            Some(&renewed),
            Some(&existing),
            &sas,
        ));
        assert_eq!(plan.secret, SecretWrite::Update(bytes(&renewed)));
        assert!(plan.add_pull_secret.is_empty());
        // Another type cannot be updated in place.
        let mut opaque = existing.clone();
        opaque.dockerconfigjson_type = false;
        let plan = plan_namespace(&inputs(
            true,
            &selector,
            Some(&content),
            Some(&opaque),
            &sas,
        ));
        assert_eq!(plan.secret, SecretWrite::Replace);
    }

    #[test]
    fn star_selects_every_sa_and_deselected_sas_lose_only_our_entry() {
        let content = content("p");
        let existing = secret(true, &bytes(&content));
        let sas = [
            sa("default", &[]),
            sa("other", &["foreign", DEFAULT_SECRET_NAME]),
        ];
        let plan = plan_namespace(&inputs(
            true,
            &ServiceAccountSelector::All,
            Some(&content),
            Some(&existing),
            &sas,
        ));
        assert_eq!(plan.add_pull_secret, ["default"]);
        let only_default = ServiceAccountSelector::Names(BTreeSet::from(["default".to_owned()]));
        let plan = plan_namespace(&inputs(
            true,
            &only_default,
            Some(&content),
            Some(&existing),
            &sas,
        ));
        assert_eq!(plan.remove_pull_secret, ["other"]);
    }

    #[test]
    fn a_foreign_secret_with_our_name_is_never_touched() {
        let content = content("p");
        let foreign = secret(false, b"{\"auths\":{}}");
        let sas = [sa("default", &[])];
        let selector = ServiceAccountSelector::All;
        let plan = plan_namespace(&inputs(
            true,
            &selector,
            Some(&content),
            Some(&foreign),
            &sas,
        ));
        assert!(plan.foreign_secret);
        assert!(plan.is_empty());
        let plan = plan_namespace(&inputs(
            false,
            &selector,
            Some(&content),
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
        assert_eq!(plan.remove_pull_secret, ["default"]);
        assert!(plan.delete_secret);
        assert_eq!(plan.secret, SecretWrite::Unchanged);
    }

    #[test]
    fn no_credentials_means_no_empty_secret() {
        let empty = SecretContent::default();
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
