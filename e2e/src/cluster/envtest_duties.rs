//! What kube-controller-manager does for the suite, done by the suite itself when the control plane
//! runs envtest's binaries (`KUBEBUILDER_ASSETS`: kube-apiserver and etcd, no controller-manager):
//! every namespace gets its `default` ServiceAccount (the serviceaccount controller), and a deleted
//! namespace is emptied of the kinds the suite and implementations create, then finalized (the
//! namespace controller). Token Secrets and `kube-root-ca.crt` (the token and root-CA publisher
//! controllers) are not made: nothing the suite runs reads them, as no kubelet mounts them.
//!
//! A task of the process holding the `ControlPlane`, polling every [`TICK`]: two list calls a tick.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::core::NamespaceResourceScope;

/// How often namespaces are looked at (namespace creation to `default` ServiceAccount: at most this
/// plus two requests, well inside the catalogue's 2 s).
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// Runs the duties until the task is aborted.
pub(crate) fn spawn(client: kube::Client) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            // A failed round (apiserver restarting) is retried at the next tick.
            let _ = round(&client).await;
            tokio::time::sleep(TICK).await;
        }
    })
}

async fn round(client: &kube::Client) -> Result<(), kube::Error> {
    let namespaces = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    let with_default: BTreeSet<String> = Api::<ServiceAccount>::all(client.clone())
        .list(&ListParams::default().fields("metadata.name=default"))
        .await?
        .items
        .into_iter()
        .filter_map(|sa| sa.metadata.namespace)
        .collect();
    for ns in namespaces.items {
        let Some(name) = ns.metadata.name.clone() else {
            continue;
        };
        if ns.metadata.deletion_timestamp.is_some() {
            finalize(client, ns).await?;
        } else if !with_default.contains(&name) {
            let sa = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some("default".into()),
                    ..Default::default()
                },
                ..Default::default()
            };
            match Api::<ServiceAccount>::namespaced(client.clone(), &name)
                .create(&PostParams::default(), &sa)
                .await
            {
                Ok(_) => {}
                // Created meanwhile, or the namespace began terminating.
                Err(kube::Error::Api(e)) if e.code == 409 || e.code == 403 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Deletes what is in a terminating namespace; once it is empty, removes the `kubernetes`
/// finalizer so the namespace goes.
async fn finalize(client: &kube::Client, ns: Namespace) -> Result<(), kube::Error> {
    let Some(name) = ns.metadata.name.clone() else {
        return Ok(());
    };
    let mut left = 0;
    left += empty::<Pod>(client, &name).await?;
    left += empty::<Secret>(client, &name).await?;
    left += empty::<ServiceAccount>(client, &name).await?;
    left += empty::<ConfigMap>(client, &name).await?;
    left += empty::<Event>(client, &name).await?;
    left += empty::<Lease>(client, &name).await?;
    left += empty::<Deployment>(client, &name).await?;
    left += empty::<ReplicaSet>(client, &name).await?;
    left += empty::<Role>(client, &name).await?;
    left += empty::<RoleBinding>(client, &name).await?;
    if left > 0 {
        return Ok(());
    }
    let mut finalized = ns;
    if let Some(spec) = finalized.spec.as_mut() {
        spec.finalizers = Some(Vec::new());
    }
    match Api::<Namespace>::all(client.clone())
        .replace_subresource("finalize", &name, &PostParams::default(), &finalized)
        .await
    {
        Ok(_) => Ok(()),
        // Gone already, or changed since it was read: the next tick sees the new state.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes every `K` in `namespace`; returns how many there were (0: empty).
async fn empty<K>(client: &kube::Client, namespace: &str) -> Result<usize, kube::Error>
where
    K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let found = match api.list(&ListParams::default().limit(1)).await {
        Ok(list) => list.items.len(),
        // A kind this apiserver does not serve.
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(0),
        Err(e) => return Err(e),
    };
    if found > 0 {
        match api
            .delete_collection(
                &DeleteParams::default().grace_period(0),
                &ListParams::default(),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}
