//! NS — namespace watching (cluster level).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};

use super::images::PE_HZ;
use super::{
    CONVERGE_DEADLINE, Ctx, Outcome, QUICK_DEADLINE, START_DEADLINE, Stop, boxed, check, fail, secs,
};

pub(super) fn body(id: &str) -> Option<super::ScenarioFn> {
    Some(match id {
        "NS1" => boxed!(ns1),
        "NS2" => boxed!(ns2),
        "NS3" => boxed!(ns3),
        "NS4" => boxed!(ns4),
        "NS5" => boxed!(ns5),
        "NS6" => boxed!(ns6),
        "NS7" => boxed!(ns7),
        _ => return None,
    })
}

/// The shipped sample ConfigMap: only `acr-api-version`, everything else defaulted.
const SAMPLE: &[(&str, &str)] = &[("acr-api-version", "2018-12-01")];

async fn ns1(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("namespace watching")?;
    let other = ctx.namespace("other").await?;
    ctx.configure(SAMPLE).await?;
    ctx.start().await?;
    let t = ctx
        .until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    ctx.figure("time-to-credentials", secs(t));
    // Converged and nothing changes: no writes while the other namespace is watched.
    let mark = ctx.audit_mark();
    ctx.check_cannot_pull(&other, "default", PE_HZ, "namespace not watched by default")
        .await?;
    ctx.check_no_writes_since(
        mark,
        "nothing changed during the window after default could pull",
    )
}

async fn ns2(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("namespace watching")?;
    let a = ctx.namespace("a").await?;
    let b = ctx.namespace("b").await?;
    let c = ctx.namespace("c").await?;
    let list = format!(" {a} ,{b}, {a}");
    ctx.configure(&[("watch-namespace", &list)]).await?;
    ctx.start().await?;
    ctx.until_pulls(&a, "default", PE_HZ, START_DEADLINE)
        .await?;
    ctx.until_pulls(&b, "default", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    ctx.hold_cannot_pull(
        &[(&c, "default", PE_HZ), ("default", "default", PE_HZ)],
        "namespace not in watch-namespace",
    )
    .await
}

async fn ns3(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("namespace watching")?;
    let before = ctx.namespace("before").await?;
    ctx.configure(&[("watch-namespace", "All")]).await?;
    ctx.start().await?;
    ctx.until_pulls(&before, "default", PE_HZ, START_DEADLINE)
        .await?;
    ctx.until_pulls("default", "default", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    let later = ctx.namespace("later").await?;
    let t = ctx
        .until_pulls(&later, "default", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    ctx.figure("later-namespace", secs(t));
    Ok(())
}

async fn ns4(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("namespace watching")?;
    let late = ctx.namespace_name("late");
    ctx.configure(&[("watch-namespace", &format!("default,{late}"))])
        .await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    let created = std::time::Instant::now();
    ctx.env().create_namespace(&late).await?;
    // The deadline runs from namespace creation; it includes the controller-manager creating
    // the `default` ServiceAccount, as it would for a user.
    let t = ctx
        .until_pulls(&late, "default", PE_HZ, QUICK_DEADLINE)
        .await
        .map_err(|e| match e {
            Stop::Fail(m) => Stop::Fail(format!("not within 2 s of namespace creation: {m}")),
            other => other,
        })?;
    let total = created.elapsed().max(t);
    ctx.figure("time-to-credentials", secs(total));
    Ok(())
}

async fn ns5(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("namespace watching")?;
    let e = ctx.namespace("edited").await?;
    ctx.configure(&[("watch-namespace", "default")]).await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    ctx.check_cannot_pull(&e, "default", PE_HZ, "before the edit")
        .await?;

    ctx.configure(&[("watch-namespace", &format!("default,{e}"))])
        .await?;
    let added = ctx
        .until_pulls(&e, "default", PE_HZ, QUICK_DEADLINE)
        .await?;
    ctx.figure("add-takes-effect", secs(added));

    ctx.configure(&[("watch-namespace", "default")]).await?;
    // Once e leaves the set, pulls there stop within 2 s and stay stopped; the suite does not
    // touch e's ServiceAccount (the end sweep then finds neither Secret nor entry in e).
    let removed = ctx
        .until_cannot_pull(&e, "default", PE_HZ, QUICK_DEADLINE)
        .await
        .map_err(|stop| match stop {
            Stop::Fail(m) => Stop::Fail(format!(
                "namespace {e} was removed from watch-namespace: {m}"
            )),
            other => other,
        })?;
    ctx.figure("removal-takes-effect", secs(removed));
    ctx.check_cannot_pull(&e, "default", PE_HZ, "after the removal")
        .await?;
    ctx.until_pulls("default", "default", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    Ok(())
}

/// Clears a ServiceAccount's `imagePullSecrets`.
pub(super) async fn strip(ctx: &mut Ctx<'_>, ns: &str, sa: &str) -> Outcome {
    let sas: Api<ServiceAccount> = Api::namespaced(ctx.env().client(), ns);
    sas.patch(
        sa,
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"imagePullSecrets": null})),
    )
    .await?;
    Ok(())
}

async fn ns6(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("ServiceAccount patching")?;
    let ns = ctx.namespace("sas").await?;
    ctx.service_account(&ns, "sa1").await?;
    ctx.service_account(&ns, "sa3").await?;
    ctx.configure(&[("watch-namespace", &ns), ("service-account", "sa1,sa2")])
        .await?;
    ctx.start().await?;
    ctx.until_pulls(&ns, "sa1", PE_HZ, START_DEADLINE).await?;
    ctx.service_account(&ns, "sa2").await?;
    let t = ctx
        .until_pulls(&ns, "sa2", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    ctx.figure("listed-sa-created-later", secs(t));
    ctx.hold_cannot_pull(
        &[(&ns, "sa3", PE_HZ), (&ns, "default", PE_HZ)],
        "ServiceAccount not in service-account",
    )
    .await?;

    ctx.configure(&[("watch-namespace", &ns), ("service-account", "*")])
        .await?;
    ctx.until_pulls(&ns, "sa3", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    ctx.until_pulls(&ns, "default", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    ctx.service_account(&ns, "sa5").await?;
    let t = ctx
        .until_pulls(&ns, "sa5", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    ctx.figure("any-sa-created-later", secs(t));

    // Narrowed back to sa1: every other account loses the entry within 2 s, and stays without.
    ctx.configure(&[("watch-namespace", &ns), ("service-account", "sa1")])
        .await?;
    let t = ctx
        .until_cannot_pull(&ns, "sa5", PE_HZ, QUICK_DEADLINE)
        .await?;
    ctx.figure("narrowed-takes-effect", secs(t));
    ctx.hold_cannot_pull(
        &[
            (&ns, "sa2", PE_HZ),
            (&ns, "sa3", PE_HZ),
            (&ns, "sa5", PE_HZ),
            (&ns, "default", PE_HZ),
        ],
        "ServiceAccount no longer in service-account",
    )
    .await?;
    ctx.until_pulls(&ns, "sa1", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    Ok(())
}

const FOREIGN_PULL: &str = "foreign-pull";

/// The label marking a Secret as the suite's (a user's), never the implementation's.
fn foreign_label() -> std::collections::BTreeMap<String, String> {
    [(crate::sweep::FOREIGN_LABEL.to_string(), "true".to_string())].into()
}
const FOREIGN_OPAQUE: &str = "foreign-opaque";

async fn ns7(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("ServiceAccount patching")?;
    let client = ctx.env().client();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let foreign_config = serde_json::json!({"auths": {"mirror.registry.test": {"username": "u", "password": "foreign"}}});
    let pull = Secret {
        metadata: ObjectMeta {
            name: Some(FOREIGN_PULL.into()),
            labels: Some(foreign_label()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        string_data: Some([(".dockerconfigjson".to_string(), foreign_config.to_string())].into()),
        ..Default::default()
    };
    let opaque = Secret {
        metadata: ObjectMeta {
            name: Some(FOREIGN_OPAQUE.into()),
            labels: Some(foreign_label()),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        string_data: Some([("token".to_string(), "keep-me".to_string())].into()),
        ..Default::default()
    };
    let _ = secrets
        .delete(FOREIGN_OPAQUE, &DeleteParams::default())
        .await;
    let pull = secrets.create(&PostParams::default(), &pull).await?;
    let opaque = secrets.create(&PostParams::default(), &opaque).await?;
    sas.patch(
        "default",
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"imagePullSecrets": [{"name": FOREIGN_PULL}]})),
    )
    .await?;
    ctx.suite_entry("default", "default", FOREIGN_PULL);

    // Short tokens, so that at least one refresh happens while we watch.
    ctx.acr.token_lifetime_secs = 12;
    ctx.configure(&[("expiring-threshold", "8s")]).await?;
    ctx.start().await?;
    // The pod has the foreign secret first; kubelet still finds the implementation's entry.
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    // A user's Secret that carries the implementation's own name (learned from the entry it
    // wrote in `default`) but not its label, in a namespace selected only now.
    let own_name = ctx
        .sa_pull_secret_names("default", "default")
        .await?
        .into_iter()
        .find(|n| n != FOREIGN_PULL)
        .ok_or_else(|| {
            Stop::Fail("the default ServiceAccount names no Secret of the implementation".into())
        })?;
    let taken = ctx.namespace("taken").await?;
    let squatter = Secret {
        metadata: ObjectMeta {
            name: Some(own_name.clone()),
            labels: Some(foreign_label()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        string_data: Some([(".dockerconfigjson".to_string(), foreign_config.to_string())].into()),
        ..Default::default()
    };
    let in_taken: Api<Secret> = Api::namespaced(client.clone(), &taken);
    let squatter = in_taken.create(&PostParams::default(), &squatter).await?;
    ctx.configure(&[
        ("expiring-threshold", "8s"),
        ("watch-namespace", &format!("default,{taken}")),
    ])
    .await?;
    // The user's Secret must stand throughout — also if the implementation cleans up `taken`
    // in the instant between the Secret's creation and the ConfigMap edit that selects it.
    let t0 = Instant::now();
    let event = loop {
        let Some(now) = in_taken.get_opt(&own_name).await? else {
            fail!("the foreign Secret {taken}/{own_name} was deleted")
        };
        check!(
            now.metadata.resource_version == squatter.metadata.resource_version,
            "the foreign Secret {taken}/{own_name} was changed (resourceVersion {:?} → {:?})",
            squatter.metadata.resource_version,
            now.metadata.resource_version
        );
        let warnings = ctx.warnings_since_start().await?;
        if let Some(w) =
            ctx.by_implementation(&warnings, |r, m| format!("{r} {m}").contains(&taken))?
        {
            break w.said();
        }
        if t0.elapsed() >= CONVERGE_DEADLINE {
            let seen: Vec<String> = warnings.iter().map(|w| w.said()).collect();
            fail!(
                "no Warning Event by the implementation about the Secret {taken}/{own_name} it does \
                 not own within {:.0} s; Warning Events seen: {seen:?}",
                CONVERGE_DEADLINE.as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ctx.figure("event", event);
    // Let a refresh happen if the implementation renews (TR1 judges whether it does): a
    // refresh is when a careless implementation rewrites the ServiceAccount.
    let first = ctx
        .token_calls()
        .await?
        .iter()
        .filter(|c| c.succeeded())
        .count();
    let renewed = ctx
        .until_token_calls(first + 1, Duration::from_secs(20), "(a refresh)", |c| {
            c.succeeded()
        })
        .await
        .is_ok();
    ctx.figure(
        "observed-across-a-refresh",
        if renewed { "yes" } else { "no refresh seen" },
    );

    // Taken leaves the set again: whatever the implementation cleans up there, the user's
    // Secret with its name is not its own (checked after the negative window).
    ctx.configure(&[("expiring-threshold", "8s")]).await?;
    let deselected = std::time::Instant::now();
    while deselected.elapsed() < super::NEGATIVE_WINDOW {
        ctx.check_alive().await?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let names = ctx.sa_pull_secret_names("default", "default").await?;
    check!(
        names.first().map(String::as_str) == Some(FOREIGN_PULL),
        "the foreign imagePullSecrets entry {FOREIGN_PULL} was removed or moved: now {names:?}"
    );
    for (before, ns, name) in [
        (&pull, "default", FOREIGN_PULL),
        (&opaque, "default", FOREIGN_OPAQUE),
        (&squatter, taken.as_str(), own_name.as_str()),
    ] {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
        let Some(now) = secrets.get_opt(name).await? else {
            fail!("the foreign Secret {ns}/{name} was deleted")
        };
        check!(
            now.metadata.resource_version == before.metadata.resource_version,
            "the foreign Secret {ns}/{name} was changed (resourceVersion {:?} → {:?})",
            before.metadata.resource_version,
            now.metadata.resource_version
        );
    }
    Ok(())
}
