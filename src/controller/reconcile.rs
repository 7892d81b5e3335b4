//! Reconcile one namespace: plan from the stores, apply the plan once, return. Every write is
//! guarded by the resourceVersion the store holds; the watch brings the namespace back if the
//! write was not the last word.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ObjectReference, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Client};
use tokio::sync::watch;

use crate::config::Config;
use crate::desired::{
    self, MANAGED_BY_LABEL, MANAGED_BY_VALUE, NamespaceInputs, NamespacePlan, ObservedAccount,
    ObservedSecret, SecretWrite,
};
use crate::metrics::Metrics;

use super::ControllerSettings;
use super::registry::PublishedContent;
use super::stores::{NamespaceView, Stores};
use super::warnings::Warnings;

/// Why a reconcile did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The object changed (409) or vanished (404) since the store saw it: requeued shortly.
    #[error("{kind} {namespace}/{name} changed since it was read; requeued")]
    Conflict {
        /// Object kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Object name.
        name: String,
    },
    /// A write was refused or failed (403, 422, 5xx, no connection …): backed off and reported.
    #[error("{verb} {kind} {namespace}/{name} failed{}: {}", status_text(.source), message(.source))]
    Write {
        /// What was being done.
        verb: &'static str,
        /// Object kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Object name.
        name: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
}

fn status_text(error: &kube::Error) -> String {
    status_code(error)
        .map(|code| format!(" with status {code}"))
        .unwrap_or_default()
}

/// What the API server said (its message alone), or the client-side failure.
fn message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.reason),
        other => other.to_string(),
    }
}

/// The HTTP status of an API error, if the API server answered.
pub fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

impl ReconcileError {
    /// The object the failed write was about, for a Warning Event.
    pub fn regarding(&self) -> Option<ObjectReference> {
        let Self::Write {
            kind,
            namespace,
            name,
            ..
        } = self
        else {
            return None;
        };
        Some(ObjectReference {
            api_version: Some("v1".into()),
            kind: Some((*kind).into()),
            namespace: Some(namespace.clone()),
            name: Some(name.clone()),
            ..Default::default()
        })
    }
}

/// Everything a reconcile reads; shared by the workers.
pub struct Context {
    /// Kubernetes client (writes only).
    pub client: Client,
    /// Settings.
    pub settings: ControllerSettings,
    /// The configuration in force.
    pub config: watch::Receiver<Arc<Config>>,
    /// The pull Secret's content in force.
    pub content: PublishedContent,
    /// The cluster as watched.
    pub stores: Arc<Stores>,
    /// Metrics sink.
    pub metrics: Arc<Metrics>,
    /// Warning Events.
    pub warnings: Arc<Warnings>,
}

impl Context {
    /// The plan for `ns` from the stores; `None` when there is nothing to decide yet (namespace
    /// unknown or being deleted, content not yet published).
    fn plan(&self, ns: &str, view: Option<NamespaceView<'_>>) -> Option<(bool, NamespacePlan)> {
        let view = view.filter(|v| !v.deleting)?;
        let config = self.config.borrow().clone();
        let content = self.content.borrow().clone()?;
        let served = config.watch_namespace.includes(ns);
        let plan = desired::plan_namespace(&NamespaceInputs {
            served,
            service_accounts_selected: &config.service_accounts,
            secret_name: &self.settings.secret_name,
            desired: Some(&content),
            existing: view.secret,
            service_accounts: view.accounts,
        });
        Some((served, plan))
    }

    /// Whether `ns` needs a reconcile: a write to make, or a foreign Secret to report.
    pub fn needs_work(&self, ns: &str) -> bool {
        self.stores.with_namespace(ns, |view| {
            self.plan(ns, view)
                .is_some_and(|(served, plan)| !plan.is_empty() || (served && plan.foreign_secret))
        })
    }
}

/// Reconciles namespace `ns` once.
pub async fn reconcile(ctx: &Context, ns: &str) -> Result<(), ReconcileError> {
    let Some((served, plan, secret, accounts)) = ctx.stores.with_namespace(ns, |view| {
        let secret = view.as_ref().and_then(|v| v.secret.cloned());
        let accounts = view
            .as_ref()
            .map(|v| v.accounts.to_vec())
            .unwrap_or_default();
        ctx.plan(ns, view)
            .map(|(served, plan)| (served, plan, secret, accounts))
    }) else {
        return Ok(());
    };
    let name = ctx.settings.secret_name.as_str();
    if plan.foreign_secret && served {
        let regarding = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Secret".into()),
            namespace: Some(ns.to_owned()),
            name: Some(name.to_owned()),
            uid: secret.as_ref().map(|s| s.uid.clone()),
            ..Default::default()
        };
        ctx.warnings
            .warn(
                format!("foreign/{ns}/{name}"),
                regarding,
                "ForeignSecret",
                format!(
                    "Secret {ns}/{name} exists without label {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}; \
                     acr-refresher leaves it untouched and does not serve namespace {ns}"
                ),
            )
            .await;
    }
    if plan.is_empty() {
        return Ok(());
    }
    tracing::debug!(namespace = ns, ?plan, "applying");
    let writer = Writer {
        ctx,
        ns,
        name,
        secrets: Api::namespaced(ctx.client.clone(), ns),
        accounts: Api::namespaced(ctx.client.clone(), ns),
    };
    match &plan.secret {
        SecretWrite::Unchanged => {}
        SecretWrite::Create(bytes) => writer.create_secret(bytes).await?,
        SecretWrite::Update(bytes) => {
            writer
                .update_secret(observed(&secret, ns, name)?, bytes)
                .await?
        }
        // The type is immutable: delete ours; its deletion brings the namespace back to create it.
        SecretWrite::Replace => writer.delete_secret(observed(&secret, ns, name)?).await?,
    }
    let account = |sa: &str| accounts.iter().find(|a| a.name == sa);
    for sa in &plan.add_pull_secret {
        if let Some(account) = account(sa) {
            writer.patch_pull_secrets(account, true).await?;
        }
    }
    for sa in &plan.remove_pull_secret {
        if let Some(account) = account(sa) {
            writer.patch_pull_secrets(account, false).await?;
        }
    }
    if plan.delete_secret {
        writer.delete_secret(observed(&secret, ns, name)?).await?;
    }
    Ok(())
}

/// The stored Secret a planned update or delete is about (the planner plans those only for a
/// Secret it saw, so a miss means the store moved on: a conflict).
fn observed<'s>(
    secret: &'s Option<ObservedSecret>,
    ns: &str,
    name: &str,
) -> Result<&'s ObservedSecret, ReconcileError> {
    secret.as_ref().ok_or_else(|| ReconcileError::Conflict {
        kind: "Secret",
        namespace: ns.to_owned(),
        name: name.to_owned(),
    })
}

struct Writer<'a> {
    ctx: &'a Context,
    ns: &'a str,
    name: &'a str,
    secrets: Api<Secret>,
    accounts: Api<ServiceAccount>,
}

impl Writer<'_> {
    /// Maps a write's error: 409/404 are conflicts (the store is behind), the rest failures.
    fn error(
        &self,
        verb: &'static str,
        kind: &'static str,
        name: &str,
        source: kube::Error,
    ) -> ReconcileError {
        if matches!(status_code(&source), Some(404 | 409)) {
            return ReconcileError::Conflict {
                kind,
                namespace: self.ns.to_owned(),
                name: name.to_owned(),
            };
        }
        ReconcileError::Write {
            verb,
            kind,
            namespace: self.ns.to_owned(),
            name: name.to_owned(),
            source: Box::new(source),
        }
    }

    fn secret(&self, bytes: &[u8], metadata: ObjectMeta) -> Secret {
        Secret {
            metadata,
            type_: Some(desired::DOCKERCONFIGJSON_TYPE.to_owned()),
            data: Some(BTreeMap::from([(
                desired::DOCKERCONFIGJSON_KEY.to_owned(),
                ByteString(bytes.to_vec()),
            )])),
            ..Default::default()
        }
    }

    fn our_labels() -> BTreeMap<String, String> {
        BTreeMap::from([(MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned())])
    }

    async fn create_secret(&self, bytes: &[u8]) -> Result<(), ReconcileError> {
        let secret = self.secret(
            bytes,
            ObjectMeta {
                name: Some(self.name.to_owned()),
                namespace: Some(self.ns.to_owned()),
                labels: Some(Self::our_labels()),
                ..Default::default()
            },
        );
        let created = self
            .secrets
            .create(&PostParams::default(), &secret)
            .await
            .map_err(|e| self.error("create", "Secret", self.name, e))?;
        self.ctx.metrics.api_write("Secret", "create");
        self.ctx.stores.written_secret(None, created);
        tracing::info!(
            namespace = self.ns,
            secret = self.name,
            "created pull Secret"
        );
        Ok(())
    }

    async fn update_secret(
        &self,
        current: &ObservedSecret,
        bytes: &[u8],
    ) -> Result<(), ReconcileError> {
        let (labels, annotations) = match &current.other_metadata {
            Some(other) => {
                let mut labels = other.labels.clone();
                labels.extend(Self::our_labels());
                (
                    labels,
                    (!other.annotations.is_empty()).then(|| other.annotations.clone()),
                )
            }
            None => (Self::our_labels(), None),
        };
        // A PUT carrying the resourceVersion the store saw: refused (409) if anyone wrote since.
        let secret = self.secret(
            bytes,
            ObjectMeta {
                name: Some(self.name.to_owned()),
                namespace: Some(self.ns.to_owned()),
                resource_version: Some(current.resource_version.clone()),
                labels: Some(labels),
                annotations,
                ..Default::default()
            },
        );
        let updated = self
            .secrets
            .replace(self.name, &PostParams::default(), &secret)
            .await
            .map_err(|e| self.error("update", "Secret", self.name, e))?;
        self.ctx.metrics.api_write("Secret", "update");
        self.ctx
            .stores
            .written_secret(Some(&current.resource_version), updated);
        tracing::info!(
            namespace = self.ns,
            secret = self.name,
            "updated pull Secret"
        );
        Ok(())
    }

    async fn delete_secret(&self, current: &ObservedSecret) -> Result<(), ReconcileError> {
        let params = DeleteParams::default().preconditions(Preconditions {
            uid: Some(current.uid.clone()),
            resource_version: Some(current.resource_version.clone()),
        });
        match self.secrets.delete(self.name, &params).await {
            Ok(_) => {}
            // Already gone: what was planned.
            Err(e) if status_code(&e) == Some(404) => return Ok(()),
            Err(e) => return Err(self.error("delete", "Secret", self.name, e)),
        }
        self.ctx.metrics.api_write("Secret", "delete");
        self.ctx
            .stores
            .deleted_secret(self.ns, &current.resource_version);
        tracing::info!(
            namespace = self.ns,
            secret = self.name,
            "deleted pull Secret"
        );
        Ok(())
    }

    /// Appends the Secret's name to (or removes it from) `imagePullSecrets` with a merge patch
    /// carrying the stored resourceVersion: every other entry stays as it is, and a concurrent
    /// change makes the patch fail (409) instead of being overwritten.
    async fn patch_pull_secrets(
        &self,
        account: &ObservedAccount,
        add: bool,
    ) -> Result<(), ReconcileError> {
        let mut names: Vec<&str> = account.pull_secrets.iter().map(String::as_str).collect();
        if add {
            names.push(self.name);
        } else {
            names.retain(|n| *n != self.name);
        }
        let entries: Vec<serde_json::Value> = names
            .iter()
            .map(|n| serde_json::json!({ "name": n }))
            .collect();
        let patch = serde_json::json!({
            "metadata": { "resourceVersion": account.resource_version },
            "imagePullSecrets": entries,
        });
        let patched = self
            .accounts
            .patch(
                &account.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(|e| self.error("patch", "ServiceAccount", &account.name, e))?;
        self.ctx.metrics.api_write("ServiceAccount", "patch");
        self.ctx
            .stores
            .written_account(&account.resource_version, patched);
        tracing::info!(
            namespace = self.ns,
            service_account = %account.name,
            secret = self.name,
            added = add,
            "patched imagePullSecrets"
        );
        Ok(())
    }
}
