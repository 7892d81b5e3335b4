//! NS — namespace watching (cluster level).

use std::time::Duration;

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
    ctx.check_cannot_pull(&other, "default", PE_HZ, "namespace not watched by default")
        .await
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
    ctx.check_cannot_pull(&c, "default", PE_HZ, "namespace not in watch-namespace")
        .await?;
    ctx.check_cannot_pull(
        "default",
        "default",
        PE_HZ,
        "default is not in watch-namespace",
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
    // After removal nothing new may be written to `e`. Observed against a canary: strip the
    // ServiceAccounts of both namespaces; once the implementation has restored `default` twice
    // it has acted since the edit, and must have left `e` alone.
    let edited = std::time::Instant::now();
    loop {
        strip(ctx, &e, "default").await?;
        for _ in 0..2 {
            strip(ctx, "default", "default").await?;
            ctx.until_pulls("default", "default", PE_HZ, CONVERGE_DEADLINE)
                .await?;
        }
        let after = ctx.sa_pull_secret_names(&e, "default").await?;
        if after.is_empty() {
            ctx.figure("removal-takes-effect", secs(edited.elapsed()));
            break;
        }
        check!(
            edited.elapsed() < QUICK_DEADLINE,
            "namespace {e} was removed from watch-namespace but its ServiceAccount is still patched 2 s later: {after:?}"
        );
    }
    let left = ctx.pull_secrets(&e).await?;
    ctx.figure(
        "cleanup-after-removal",
        if left.is_empty() {
            "secrets removed"
        } else {
            "secrets left (allowed)"
        },
    );
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
    ctx.check_cannot_pull(&ns, "sa3", PE_HZ, "sa3 is not in service-account")
        .await?;
    ctx.check_cannot_pull(&ns, "default", PE_HZ, "default is not in service-account")
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
    Ok(())
}

const FOREIGN_PULL: &str = "foreign-pull";
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
            ..Default::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        string_data: Some([(".dockerconfigjson".to_string(), foreign_config.to_string())].into()),
        ..Default::default()
    };
    let opaque = Secret {
        metadata: ObjectMeta {
            name: Some(FOREIGN_OPAQUE.into()),
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

    // Short tokens, so that at least one refresh happens while we watch.
    ctx.acr.token_lifetime_secs = 12;
    ctx.configure(&[("expiring-threshold", "8s")]).await?;
    ctx.start().await?;
    // The pod has the foreign secret first; kubelet still finds the implementation's entry.
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
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

    let names = ctx.sa_pull_secret_names("default", "default").await?;
    check!(
        names.first().map(String::as_str) == Some(FOREIGN_PULL),
        "the foreign imagePullSecrets entry {FOREIGN_PULL} was removed or moved: now {names:?}"
    );
    for (before, name) in [(&pull, FOREIGN_PULL), (&opaque, FOREIGN_OPAQUE)] {
        let Some(now) = secrets.get_opt(name).await? else {
            fail!("the foreign Secret default/{name} was deleted")
        };
        check!(
            now.metadata.resource_version == before.metadata.resource_version,
            "the foreign Secret default/{name} was changed (resourceVersion {:?} → {:?})",
            before.metadata.resource_version,
            now.metadata.resource_version
        );
    }
    Ok(())
}
