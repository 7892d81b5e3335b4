//! CR — cross-region pulls (cluster and source level).

use super::images::{EE_BJ, EE_BJ_ID, EE_HZ_ID, PE_BJ, PE_HZ};
use super::mr::{credential_for, registry_info};
use super::{CONVERGE_DEADLINE, Ctx, Outcome, START_DEADLINE, boxed, check};

pub(super) fn body(id: &str) -> Option<super::ScenarioFn> {
    Some(match id {
        "CR1" => boxed!(cr1),
        "CR2" => boxed!(cr2),
        "CR3" => boxed!(cr3),
        _ => return None,
    })
}

async fn cr1(ctx: &mut Ctx<'_>) -> Outcome {
    // Node in cn-hangzhou (fake-metadata), instance in cn-beijing, plus the node region's
    // Personal Edition, whose cn-hangzhou token must be refused by the cn-beijing instance.
    let info = registry_info(&[(EE_BJ_ID, "cn-beijing", None), ("", "cn-hangzhou", None)]);
    ctx.configure(&[("acr-registry-info", &info)]).await?;
    ctx.start().await?;
    let bj = credential_for(ctx, EE_BJ).await?;
    let hz = credential_for(ctx, PE_HZ).await?;
    let calls = ctx.token_calls().await?;
    check!(
        calls
            .iter()
            .any(|c| c.succeeded() && c.region == "cn-beijing"),
        "no successful GetAuthorizationToken at the cn-beijing endpoint; calls by region: {:?}",
        calls
            .iter()
            .map(|c| format!("{}:{}", c.region, c.result))
            .collect::<Vec<_>>()
    );
    check!(
        !ctx.pull_with(EE_BJ, &hz).await?,
        "a cn-hangzhou token pulls from the cn-beijing instance (the fake should refuse it)"
    );
    check!(
        ctx.pull_with(EE_BJ, &bj).await?,
        "the credential used for {EE_BJ} no longer pulls"
    );
    Ok(())
}

async fn cr2(ctx: &mut Ctx<'_>) -> Outcome {
    let info = registry_info(&[("", "cn-hangzhou", None), ("", "cn-beijing", None)]);
    ctx.configure(&[("acr-registry-info", &info)]).await?;
    ctx.start().await?;
    let hz = credential_for(ctx, PE_HZ).await?;
    let bj = credential_for(ctx, PE_BJ).await?;
    // Both regions at once: the first must still work after the second was set up.
    ctx.until_pulls("default", "default", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    // Each region's token is its own: the one used for PE-HZ is refused in cn-beijing and the
    // other way round (fake-acr binds Personal Edition tokens to their region).
    let hz_in_bj = ctx.pull_with(PE_BJ, &hz).await?;
    let bj_in_hz = ctx.pull_with(PE_HZ, &bj).await?;
    ctx.figure(
        "cross-region-token-refused",
        if hz_in_bj || bj_in_hz { "no" } else { "yes" },
    );
    check!(
        !hz_in_bj && !bj_in_hz,
        "one token serves both regions (cn-hangzhou's accepted in cn-beijing: {hz_in_bj}, \
         cn-beijing's in cn-hangzhou: {bj_in_hz}): each region needs its own token"
    );
    Ok(())
}

async fn cr3(ctx: &mut Ctx<'_>) -> Outcome {
    // demo-hz lives in cn-hangzhou; asking cn-beijing for it finds no instance there.
    let info = registry_info(&[("", "cn-hangzhou", None), (EE_HZ_ID, "cn-beijing", None)]);
    ctx.configure(&[("acr-registry-info", &info)]).await?;
    ctx.start().await?;
    if ctx.is_cluster_level() {
        ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
            .await?;
        let event = ctx
            .until_warning(
                CONVERGE_DEADLINE,
                "naming the instance or its region",
                |r, m| {
                    let text = format!("{r} {m}");
                    text.contains(EE_HZ_ID) || text.contains("cn-beijing")
                },
            )
            .await?;
        ctx.figure("event", event.chars().take(120).collect::<String>());
        ctx.check_alive().await?;
    } else {
        // A credential source asked for an instance that does not exist in that region must
        // not hand out credentials that pull; the node region's registry keeps working.
        let missing = "demo-hz-registry.cn-beijing.cr.aliyuncs.com/team/private-app:latest";
        let outcome = ctx.probe("default", "default", missing).await;
        if let Ok(o) = outcome {
            check!(
                !o.pulled(),
                "credentials for a non-existent instance pulled: {}",
                o.explain()
            );
        }
    }
    ctx.until_pulls("default", "default", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    Ok(())
}
