//! BI — bad input (cluster level).

use std::time::{Duration, Instant};

use super::images::{EE_HZ, EE_HZ_ID, PE_HZ, PE_HZ_VPC};
use super::mr::registry_info;
use super::ns::strip;
use super::{
    CONVERGE_DEADLINE, CREDENTIALS_PATH, Ctx, Outcome, START_DEADLINE, boxed, check, fail,
};

pub(super) fn body(id: &str) -> Option<super::ScenarioFn> {
    Some(match id {
        "BI1" => boxed!(bi1),
        "BI2" => boxed!(bi2),
        "BI3" => boxed!(bi3),
        _ => return None,
    })
}

async fn bi1(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("ConfigMap handling")?;
    let b1 = ctx.namespace("b1").await?;
    let watch = format!("default,{b1}");
    let info = registry_info(&[("", "cn-hangzhou", None), (EE_HZ_ID, "cn-hangzhou", None)]);
    let good: Vec<(&str, &str)> = vec![
        ("watch-namespace", &watch),
        ("acr-registry-info", &info),
        ("expiring-threshold", "8s"),
    ];
    ctx.configure(&good).await?;
    ctx.start().await?;
    ctx.until_pulls(&b1, "default", PE_HZ, START_DEADLINE)
        .await?;
    ctx.until_pulls(&b1, "default", EE_HZ, CONVERGE_DEADLINE)
        .await?;

    let variants: [(&str, &str); 3] = [
        ("expiring-threshold", "15 minutes"),
        ("acr-registry", "registry.[.aliyuncs.com"),
        (
            "acr-registry-info",
            "- instanceId: [unclosed\n  regionId: cn-hangzhou",
        ),
    ];
    for (key, bad) in variants {
        let mut data = good.clone();
        data.retain(|(k, _)| *k != key);
        data.push((key, bad));
        ctx.configure(&data).await?;
        ctx.until_warning(
            CONVERGE_DEADLINE,
            &format!("naming the key {key}"),
            |r, m| format!("{r} {m}").contains(key),
        )
        .await?;
        ctx.check_alive().await?;
        // The last good configuration is still in force: b1 is watched and the EE instance
        // served, visible once the implementation has to act again.
        strip(ctx, &b1, "default").await?;
        ctx.until_pulls(&b1, "default", EE_HZ, CONVERGE_DEADLINE)
            .await?;
        ctx.until_pulls(&b1, "default", PE_HZ, CONVERGE_DEADLINE)
            .await?;
        ctx.configure(&good).await?;
    }
    Ok(())
}

async fn bi2(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("ConfigMap handling")?;
    // `reset` deleted the ConfigMap: the seed defaults apply.
    let other = ctx.namespace("other").await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    ctx.until_pulls("default", "default", PE_HZ_VPC, CONVERGE_DEADLINE)
        .await?;
    ctx.check_cannot_pull(
        &other,
        "default",
        PE_HZ,
        "the seed default watches only namespace default",
    )
    .await
}

/// Metadata answers that are not credentials: truncated JSON, then a document without `Code`.
const MALFORMED: [fake_metadata::FaultKind; 2] = [
    fake_metadata::FaultKind::MalformedJson,
    fake_metadata::FaultKind::MissingCode,
];

async fn bi3(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("handling of malformed cloud answers")?;
    ctx.acr.token_lifetime_secs = 10;
    ctx.metadata.credential_lifetime = Duration::from_secs(12);
    ctx.metadata.rotation_lead_time = Duration::from_secs(6);
    ctx.configure(&[("expiring-threshold", "5s")]).await?;
    // From the very first request: the implementation must not write empty credentials.
    ctx.metadata.faults = vec![
        fake_metadata::FaultRule::new(CREDENTIALS_PATH, fake_metadata::FaultKind::MalformedJson)
            .times(3),
    ];
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    ctx.check_no_empty_credentials("default").await?;
    let admin = ctx.clouds()?.metadata();
    for fault in MALFORMED {
        let name = fault.name();
        let id = admin
            .add_fault(fake_metadata::FaultRule::new(CREDENTIALS_PATH, fault))
            .await?;
        let t0 = Instant::now();
        // Until the implementation has met the bad answer (it must re-fetch: STS lives 12 s).
        loop {
            ctx.check_alive().await?;
            ctx.check_no_empty_credentials("default").await?;
            let served = admin
                .requests()
                .await?
                .iter()
                .filter(|r| r.faults.iter().any(|f| f == name))
                .count();
            if served >= 1 {
                break;
            }
            check!(
                t0.elapsed() < Duration::from_secs(25),
                "the implementation did not ask the metadata server again within 25 s (STS lifetime 12 s)"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        ctx.check_alive().await?;
        ctx.check_no_empty_credentials("default").await?;
        admin.remove_fault(id).await?;
        let deadline = Duration::from_secs(25);
        if ctx
            .until_pulls("default", "default", PE_HZ, deadline)
            .await
            .is_err()
        {
            fail!(
                "no working credentials within 25 s after the metadata server answered properly again ({name})"
            );
        }
    }
    // ACR: two token answers that are 200 with a body no JSON parser accepts.
    let before = ctx.token_calls().await?.len();
    ctx.clouds()?
        .acr()
        .add_fault(fake_acr::FaultRule {
            action: Some("GetAuthorizationToken".into()),
            malformed: true,
            count: Some(2),
            ..Default::default()
        })
        .await?;
    let t0 = Instant::now();
    loop {
        ctx.check_alive().await?;
        ctx.check_no_empty_credentials("default").await?;
        let calls = ctx.token_calls().await?;
        let after = calls.get(before..).unwrap_or_default();
        let malformed = after.iter().filter(|c| c.result == "Malformed").count();
        if malformed >= 2
            && after
                .iter()
                .skip_while(|c| c.result == "Malformed")
                .any(|c| c.succeeded())
        {
            break;
        }
        check!(
            t0.elapsed() < Duration::from_secs(30),
            "within 30 s the implementation did not get past two malformed token answers to a good one (token lifetime 10 s, threshold 5 s); calls since: {:?}",
            after.iter().map(|c| c.result.as_str()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ctx.until_pulls("default", "default", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    ctx.check_no_empty_credentials("default").await?;
    ctx.figure(
        "malformed-answers",
        "truncated JSON, missing Code (metadata); truncated JSON (ACR token)",
    );
    Ok(())
}
