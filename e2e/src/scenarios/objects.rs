//! Cluster objects a scenario writes and reads: the helper's ConfigMap, its own namespaces,
//! ServiceAccounts and their `imagePullSecrets`, and the pull Secrets in a namespace.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

use super::{CONVERGE_DEADLINE, Ctx, Outcome, Stop, check};
use crate::probe::{Credential, credentials_of_secret};

impl Ctx<'_> {
    /// Writes the helper's ConfigMap with exactly these keys. Credential-only implementations
    /// cannot read it: for them only `expiring-threshold` is kept, for the `{expiring_threshold}`
    /// placeholder of their command (scenarios gate config-only checks).
    pub async fn configure(&mut self, data: &[(&str, &str)]) -> Outcome {
        self.expiring_threshold = data
            .iter()
            .find(|(k, _)| *k == "expiring-threshold")
            .map(|(_, v)| v.to_string());
        if !self.is_cluster_level() {
            return Ok(());
        }
        self.selection = crate::sweep::Selection::from_config(data);
        Ok(self.env.write_configuration(data).await?)
    }

    /// Creates a namespace for this scenario (`<hint>-<run id>`) and waits for its `default`
    /// ServiceAccount; returns its name.
    pub async fn namespace(&self, hint: &str) -> Result<String, Stop> {
        let name = self
            .env
            .namespace_name(&format!("{}-{hint}", self.info.id.to_ascii_lowercase()));
        self.env.create_namespace(&name).await?;
        self.env
            .wait_for_default_service_account(&name, CONVERGE_DEADLINE)
            .await?;
        Ok(name)
    }

    /// The namespace name `namespace(hint)` would create, without creating it.
    pub fn namespace_name(&self, hint: &str) -> String {
        self.env
            .namespace_name(&format!("{}-{hint}", self.info.id.to_ascii_lowercase()))
    }

    /// Creates a ServiceAccount.
    pub async fn service_account(&self, namespace: &str, name: &str) -> Outcome {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<ServiceAccount>::namespaced(self.env.client(), namespace)
            .create(&PostParams::default(), &sa)
            .await?;
        Ok(())
    }

    /// Every pull credential reachable from a ServiceAccount: `(secret name, credentials)`.
    pub async fn sa_credentials(
        &self,
        namespace: &str,
        sa: &str,
    ) -> Result<Vec<(String, Vec<Credential>)>, Stop> {
        let sas: Api<ServiceAccount> = Api::namespaced(self.env.client(), namespace);
        let secrets: Api<Secret> = Api::namespaced(self.env.client(), namespace);
        let Some(account) = sas.get_opt(sa).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for r in account.image_pull_secrets.unwrap_or_default() {
            if let Some(s) = secrets.get_opt(&r.name).await? {
                out.push((r.name.clone(), credentials_of_secret(&s)));
            }
        }
        Ok(out)
    }

    /// `imagePullSecrets` names of a ServiceAccount, in order.
    pub async fn sa_pull_secret_names(
        &self,
        namespace: &str,
        sa: &str,
    ) -> Result<Vec<String>, Stop> {
        let sas: Api<ServiceAccount> = Api::namespaced(self.env.client(), namespace);
        Ok(sas
            .get_opt(sa)
            .await?
            .and_then(|a| a.image_pull_secrets)
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.name)
            .collect())
    }

    /// Snapshot of the pull Secrets in a namespace: name → (resourceVersion, credentials).
    pub async fn pull_secrets(
        &self,
        namespace: &str,
    ) -> Result<BTreeMap<String, (String, Vec<Credential>)>, Stop> {
        let secrets: Api<Secret> = Api::namespaced(self.env.client(), namespace);
        let mut out = BTreeMap::new();
        for s in secrets.list(&ListParams::default()).await?.items {
            let kind = s.type_.as_deref().unwrap_or_default();
            if kind == "kubernetes.io/dockerconfigjson" || kind == "kubernetes.io/dockercfg" {
                let name = s.metadata.name.clone().unwrap_or_default();
                let rv = s.metadata.resource_version.clone().unwrap_or_default();
                out.insert(name, (rv, credentials_of_secret(&s)));
            }
        }
        Ok(out)
    }

    /// Fails if a pull Secret in `namespace` holds an entry with an empty user name or password.
    pub async fn check_no_empty_credentials(&self, namespace: &str) -> Outcome {
        for (name, (_, creds)) in self.pull_secrets(namespace).await? {
            for c in creds {
                check!(
                    !c.username.is_empty() && !c.password.is_empty(),
                    "Secret {namespace}/{name} holds an entry for {} with an empty user name or password",
                    c.key
                );
            }
        }
        Ok(())
    }
}
