//! MR — multi-registry matching (cluster and source level).

use acr_refresher::keyring::{DockerKeyring, normalise_key};

use super::images::{EE_BJ, EE_BJ_ID, EE_HZ, EE_HZ_ID, EE_HZ_VPC, PE_HZ, PE_HZ_INTL, PE_HZ_VPC};
use super::{CONVERGE_DEADLINE, Ctx, Outcome, START_DEADLINE, boxed, check, fail};
use crate::probe::{Credential, kubelet_order};

pub(super) fn body(id: &str) -> Option<super::ScenarioFn> {
    Some(match id {
        "MR1" => boxed!(mr1),
        "MR2" => boxed!(mr2),
        "MR3" => boxed!(mr3),
        "MR4" => boxed!(mr4),
        "MR5" => boxed!(mr5),
        _ => return None,
    })
}

const SAMPLE: (&str, &str) = ("acr-api-version", "2018-12-01");

/// `acr-registry-info` with one item per `(instanceId, regionId, domains)`.
pub(super) fn registry_info(items: &[(&str, &str, Option<&str>)]) -> String {
    let mut out = String::new();
    for (instance, region, domains) in items {
        out.push_str(&format!(
            "- instanceId: \"{instance}\"\n  regionId: {region}\n"
        ));
        if let Some(d) = domains {
            out.push_str(&format!("  domains: {d}\n"));
        }
    }
    out
}

async fn mr1(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.configure(&[SAMPLE]).await?;
    ctx.start().await?;
    let t = ctx
        .until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    ctx.figure("time-to-credentials", super::secs(t));
    ctx.until_pulls("default", "default", PE_HZ_VPC, CONVERGE_DEADLINE)
        .await?;
    if ctx.is_cluster_level() {
        ctx.check_no_credentials(
            "default",
            "default",
            PE_HZ_INTL,
            "registry-intl is outside every seed pattern",
        )
        .await?;
    } else {
        ctx.figure(
            "outside-patterns",
            "not judged: patterns are ConfigMap settings",
        );
    }
    Ok(())
}

async fn mr2(ctx: &mut Ctx<'_>) -> Outcome {
    let info = registry_info(&[(EE_HZ_ID, "cn-hangzhou", None)]);
    ctx.configure(&[SAMPLE, ("acr-registry-info", &info)])
        .await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", EE_HZ, START_DEADLINE)
        .await?;
    ctx.until_pulls("default", "default", EE_HZ_VPC, CONVERGE_DEADLINE)
        .await?;
    Ok(())
}

/// The credential a Pod (or the source) uses for `image`, after it pulls.
pub(super) async fn credential_for(
    ctx: &mut Ctx<'_>,
    image: &str,
) -> Result<Credential, super::Stop> {
    ctx.until_pulls("default", "default", image, START_DEADLINE)
        .await?;
    let outcome = ctx.probe("default", "default", image).await?;
    match outcome.used {
        Some(c) => Ok(c),
        None => fail!(
            "{image} pulled a moment ago but not now — {}",
            outcome.explain()
        ),
    }
}

async fn mr3(ctx: &mut Ctx<'_>) -> Outcome {
    let info = registry_info(&[
        (EE_HZ_ID, "cn-hangzhou", None),
        (EE_BJ_ID, "cn-beijing", None),
        ("", "cn-hangzhou", None),
    ]);
    ctx.configure(&[SAMPLE, ("acr-registry-info", &info)])
        .await?;
    ctx.start().await?;
    let hz = credential_for(ctx, EE_HZ).await?;
    let bj = credential_for(ctx, EE_BJ).await?;
    let pe = credential_for(ctx, PE_HZ).await?;
    // The fake enforces instance-bound tokens: each pull must have used its own instance's token.
    check!(
        !ctx.pull_with(EE_BJ, &hz).await?,
        "the credential used for {EE_HZ} also pulls from instance demo-bj: tokens are not instance-bound"
    );
    check!(
        !ctx.pull_with(EE_HZ, &bj).await?,
        "the credential used for {EE_BJ} also pulls from instance demo-hz: tokens are not instance-bound"
    );
    check!(
        !ctx.pull_with(EE_HZ, &pe).await?,
        "the Personal Edition credential also pulls from instance demo-hz"
    );
    Ok(())
}

/// Images that must not match any key (docs/helper-behaviour.md examples, plus non-registry hosts).
const NEVER_MATCH: &[&str] = &[
    "registry-intl.ap-southeast-1.aliyuncs.com/x/y",
    "demo-hz-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001/x/y",
    "registry.cn-hangzhou.aliyuncs.com:5000/demo/private-app",
    "cr.cn-hangzhou.aliyuncs.com/x/y",
    "dockerauth.cn-hangzhou.aliyuncs.com/x/y",
    "aliyuncs.com/x/y",
];

async fn mr4(ctx: &mut Ctx<'_>) -> Outcome {
    let info = registry_info(&[("", "cn-hangzhou", None), (EE_HZ_ID, "cn-hangzhou", None)]);
    ctx.configure(&[SAMPLE, ("acr-registry-info", &info)])
        .await?;
    ctx.start().await?;
    let wanted = [PE_HZ, PE_HZ_VPC, EE_HZ, EE_HZ_VPC];
    let mut keys: Vec<Credential> = Vec::new();
    for image in wanted {
        ctx.until_pulls("default", "default", image, START_DEADLINE)
            .await?;
        if !ctx.is_cluster_level() {
            let outcome = ctx.probe("default", "default", image).await?;
            keys.extend(outcome.used);
        }
    }
    if ctx.is_cluster_level() {
        for (_, creds) in ctx.sa_credentials("default", "default").await? {
            keys.extend(creds);
        }
    }
    if ctx.implementation_kind() == crate::adapter::AdapterKind::KubeletCredentialProvider {
        // kubelet's own code matched the plugin's keys against each image before handing the
        // credentials out, and every image pulled: the rules held for the keys that were used.
        ctx.figure("keys", "matched by kubelet's own keyring for all 4 images");
        return Ok(());
    }
    check!(!keys.is_empty(), "no keys found after successful pulls");
    for k in &keys {
        check!(
            normalise_key(&k.key).is_ok(),
            "kubelet ignores the key '{}' (not a URL it can parse)",
            k.key
        );
        let useful = wanted
            .iter()
            .any(|image| !kubelet_order(image, std::slice::from_ref(k)).is_empty());
        check!(
            useful,
            "the key '{}' matches none of the configured registries' images under kubelet's rules",
            k.key
        );
    }
    if ctx.is_cluster_level() {
        for image in NEVER_MATCH {
            let hits: Vec<&str> = kubelet_order(image, &keys)
                .iter()
                .map(|c| c.key.as_str())
                .collect();
            check!(
                hits.is_empty(),
                "{image} must match no key under kubelet's rules, but matches {hits:?}"
            );
        }
    }
    let keyring = DockerKeyring::from_auths(keys.iter().map(|c| (c.key.as_str(), ())));
    ctx.figure("keys", keyring.keys().join(", "));
    Ok(())
}

async fn mr5(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("domains narrowing (an acr-registry-info setting)")?;
    let (public, _) = fake_acr::hosts::instance_domains("demo-hz", "cn-hangzhou");
    let info = registry_info(&[(EE_HZ_ID, "cn-hangzhou", Some(&public))]);
    ctx.configure(&[SAMPLE, ("acr-registry-info", &info)])
        .await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", EE_HZ, START_DEADLINE)
        .await?;
    ctx.check_no_credentials(
        "default",
        "default",
        EE_HZ_VPC,
        "domains lists only the public domain",
    )
    .await
}
