//! FT — faults (cluster level).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams};

use super::images::PE_HZ;
use super::ns::strip;
use super::{
    CONVERGE_DEADLINE, Ctx, Outcome, QUICK_DEADLINE, START_DEADLINE, Stop, boxed, check, fail,
    fingerprint, secs,
};
use super::{CREDENTIALS_PATH, CREDENTIALS_PREFIX};

pub(super) fn body(id: &str) -> Option<super::ScenarioFn> {
    Some(match id {
        "FT1" => boxed!(ft1),
        "FT2" => boxed!(ft2),
        "FT3" => boxed!(ft3),
        "FT4" => boxed!(ft4),
        "FT5" => boxed!(ft5),
        "FT6" => boxed!(ft6),
        _ => return None,
    })
}

/// Fails if the default ServiceAccount no longer leads to a non-empty credential for PE_HZ's
/// registry ("no Secret lost or emptied").
async fn check_credentials_in_place(ctx: &mut Ctx<'_>, when: &str) -> Outcome {
    ctx.check_no_empty_credentials("default").await?;
    let creds: Vec<_> = ctx
        .sa_credentials("default", "default")
        .await?
        .into_iter()
        .flat_map(|(_, c)| c)
        .collect();
    check!(
        !crate::probe::kubelet_order(PE_HZ, &creds).is_empty(),
        "{when}: the default ServiceAccount no longer leads to credentials for {PE_HZ} (Secret lost, emptied or unlinked)"
    );
    ctx.check_alive().await
}

/// Watches that credentials stay in place for `period` (a fault's duration, chosen by the
/// scenario: the fault lasts that long whatever the implementation does).
async fn keep_in_place_during(ctx: &mut Ctx<'_>, period: Duration, what: &str) -> Outcome {
    let t0 = Instant::now();
    while t0.elapsed() < period {
        check_credentials_in_place(ctx, what).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Short tokens so that refreshes (and so faults) happen within seconds.
fn short_tokens(ctx: &mut Ctx<'_>) {
    ctx.acr.token_lifetime_secs = 10;
}
const THRESHOLD: (&str, &str) = ("expiring-threshold", "5s");

/// Polls until a credential different from `old` pulls PE_HZ in `default`.
async fn until_new_credential(
    ctx: &mut Ctx<'_>,
    old: u64,
    within: Duration,
    what: &str,
) -> Result<Duration, Stop> {
    let t0 = Instant::now();
    loop {
        let outcome = ctx.probe("default", "default", PE_HZ).await?;
        if outcome.used.as_ref().is_some_and(|c| fingerprint(c) != old) {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > within {
            fail!(
                "{what}: no new working credential within {:.0} s — {}",
                within.as_secs_f64(),
                outcome.explain()
            );
        }
        ctx.check_alive().await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn current_fingerprint(ctx: &mut Ctx<'_>) -> Result<u64, Stop> {
    let outcome = ctx.probe("default", "default", PE_HZ).await?;
    match outcome.used {
        Some(c) => Ok(fingerprint(&c)),
        None => fail!("{PE_HZ} does not pull — {}", outcome.explain()),
    }
}

async fn ft1(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("fault handling")?;
    short_tokens(ctx);
    // STS credentials short-lived too: while the metadata server is down they expire, so any
    // implementation that keeps renewing tokens has to ask it.
    ctx.metadata.credential_lifetime = Duration::from_secs(15);
    ctx.metadata.rotation_lead_time = Duration::from_secs(5);
    ctx.configure(&[THRESHOLD]).await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    let admin = ctx.clouds()?.metadata();
    let sts_expiry = admin.state().await?.current.map(|c| c.expiration);
    let down = admin
        .add_fault(fake_metadata::FaultRule::new(
            "*",
            fake_metadata::FaultKind::DropConnection,
        ))
        .await?;
    // The outage lasts until the STS credentials served before it have expired, plus 3 s.
    let outage = sts_expiry
        .and_then(|e| Duration::try_from(e.duration_since(jiff::Timestamp::now())).ok())
        .unwrap_or_default()
        + Duration::from_secs(3);
    keep_in_place_during(ctx, outage, "while the metadata server is down").await?;
    let refused = admin
        .requests()
        .await?
        .iter()
        .filter(|r| r.faults.iter().any(|f| f == "drop_connection"))
        .count();
    ctx.figure("outage", secs(outage));
    ctx.figure("metadata-requests-during-outage", refused.to_string());
    admin.remove_fault(down).await?;
    let old = current_fingerprint(ctx).await.unwrap_or_default();
    let t = until_new_credential(
        ctx,
        old,
        Duration::from_secs(40),
        "after the metadata server returned",
    )
    .await?;
    ctx.figure("recovery", secs(t));
    Ok(())
}

async fn ft2(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("fault handling")?;
    short_tokens(ctx);
    ctx.configure(&[THRESHOLD]).await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    let admin = ctx.clouds()?.acr();
    let before = ctx.token_calls().await?.len();
    admin
        .add_fault(fake_acr::FaultRule {
            action: Some("GetAuthorizationToken".into()),
            status: Some(503),
            code: Some("ServiceUnavailable".into()),
            count: Some(BURST),
            ..Default::default()
        })
        .await?;
    admin
        .add_fault(fake_acr::FaultRule {
            action: Some("GetAuthorizationToken".into()),
            throttle: true,
            time_left_ms: Some(TIME_LEFT.as_millis() as u64),
            count: Some(BURST),
            ..Default::default()
        })
        .await?;
    let t0 = Instant::now();
    let failures = 2 * BURST as usize;
    let after = loop {
        check_credentials_in_place(ctx, "during 5xx/throttling").await?;
        let calls = ctx.token_calls().await?;
        let after: Vec<_> = calls[before..].to_vec();
        if after.iter().filter(|c| !c.succeeded()).count() >= failures
            && after.last().is_some_and(|c| c.succeeded())
        {
            break after;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let results: Vec<&str> = after.iter().map(|c| c.result.as_str()).collect();
            fail!(
                "no successful GetAuthorizationToken after the {failures} injected failures within 60 s; results: {results:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Gap after each call, up to the first success: after a 5xx the gaps must grow (backoff,
    // not a fixed retry rate); after a Throttling answer the next call waits the hint.
    let gaps: Vec<(bool, f64)> = after
        .windows(2)
        .take_while(|w| !w[0].succeeded())
        .map(|w| {
            let gap = w[1].at.duration_since(w[0].at).as_secs_f64();
            (w[0].result.starts_with("Throttling"), gap)
        })
        .collect();
    let unavailable: Vec<f64> = gaps.iter().filter(|(t, _)| !t).map(|(_, g)| *g).collect();
    let throttled: Vec<f64> = gaps.iter().filter(|(t, _)| *t).map(|(_, g)| *g).collect();
    let show = |v: &[f64]| {
        v.iter()
            .map(|g| format!("{g:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    ctx.figure(
        "retries",
        format!(
            "gaps after 5xx [{}] s, after Throttling (TimeLeft {} ms) [{}] s, then success",
            show(&unavailable),
            TIME_LEFT.as_millis(),
            show(&throttled)
        ),
    );
    // Growing: some gap after a 5xx is at least twice the first (a fixed rate, even jittered
    // by up to half, never is). Honoured: at most one retry (a fresh cycle after the client gave
    // up) comes sooner than the hint.
    let first = unavailable.first().copied().unwrap_or_default();
    let longest = unavailable.iter().copied().fold(0.0, f64::max);
    check!(
        unavailable.len() >= 2 && longest >= 2.0 * first && longest >= 0.2,
        "retries after 5xx answers do not back off: gaps [{}] s (one must be at least twice the first)",
        show(&unavailable)
    );
    let floor = TIME_LEFT.as_secs_f64() * 0.9;
    let early = throttled.iter().filter(|g| **g < floor).count();
    check!(
        early <= 1,
        "{early} retries came sooner than the Throttling answer's TimeLeft hint ({} ms): gaps [{}] s",
        TIME_LEFT.as_millis(),
        show(&throttled)
    );
    ctx.until_pulls("default", "default", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    Ok(())
}

/// Failed answers per kind in FT2's burst: long enough to see gaps grow.
const BURST: u32 = 4;
/// The `TimeLeft` hint of FT2's Throttling answers.
const TIME_LEFT: Duration = Duration::from_millis(800);

async fn ft3(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("fault handling")?;
    short_tokens(ctx);
    ctx.configure(&[THRESHOLD]).await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    // Only Events created or repeated after the fault count, and only by the implementation.
    let mark = ctx.warning_mark().await?;
    ctx.clouds()?
        .acr()
        .add_fault(fake_acr::FaultRule {
            action: Some("GetAuthorizationToken".into()),
            status: Some(403),
            code: Some("Forbidden.RAM".into()),
            ..Default::default()
        })
        .await?;
    // The credentials written before the fault expire while it lasts: nothing to justify.
    ctx.judge_keys_at_end = false;
    let t0 = Instant::now();
    let event = loop {
        check_credentials_in_place(ctx, "while the role lacks cr:GetAuthorizationToken").await?;
        let warnings = ctx.warnings_since_mark(&mark).await?;
        let found =
            ctx.by_implementation(&warnings, |r, m| format!("{r} {m}").contains(PERMISSION))?;
        if let Some(event) = found {
            break event.said();
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let seen: Vec<String> = warnings.iter().map(|w| w.said()).collect();
            fail!(
                "no Warning Event by the implementation naming the missing permission {PERMISSION} \
                 within 20 s of the fault; Warning Events since the fault: {seen:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ctx.figure("event", event.chars().take(120).collect::<String>());
    check_credentials_in_place(ctx, "after the Forbidden.RAM answers").await
}

/// The RAM permission FT3 takes away.
const PERMISSION: &str = "cr:GetAuthorizationToken";

async fn ft4(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("fault handling")?;
    short_tokens(ctx);
    // 1. The first STS credentials the metadata server hands out are already expired: ACR
    //    refuses them (InvalidSecurityToken.Expired) and the only way on is fetching again.
    ctx.metadata.faults = vec![
        fake_metadata::FaultRule::new(
            CREDENTIALS_PATH,
            fake_metadata::FaultKind::ExpiredCredentials,
        )
        .times(1),
    ];
    ctx.configure(&[THRESHOLD]).await?;
    ctx.start().await?;
    let t = ctx
        .until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    ctx.figure("recovery-from-expired-sts", secs(t));
    let metadata = ctx.clouds()?.metadata();
    let fetches = metadata
        .requests()
        .await?
        .iter()
        .filter(|r| {
            r.path
                .strip_prefix(CREDENTIALS_PREFIX)
                .is_some_and(|role| !role.is_empty())
        })
        .count();
    check!(
        fetches >= 2,
        "credentials were fetched {fetches} time(s): the expired ones were never replaced"
    );
    let refusals: Vec<String> = ctx
        .token_calls()
        .await?
        .into_iter()
        .filter(|c| !c.succeeded())
        .map(|c| c.result)
        .collect();
    ctx.figure("refusals-before-recovery", format!("{refusals:?}"));

    // 2. Clock skew beyond 15 min (the clouds' clock 20 min behind): every call is refused,
    //    whatever the credentials. Nothing may be lost, and the implementation recovers once
    //    the clocks agree again. Behind, not ahead: tokens then look expired, so renewals go on.
    let acr = ctx.clouds()?.acr();
    let before = ctx.token_calls().await?.len();
    acr.set_clock_offset_secs(-20 * 60).await?;
    let t0 = Instant::now();
    loop {
        check_credentials_in_place(ctx, "during clock skew").await?;
        if ctx.token_calls().await?[before..]
            .iter()
            .any(|c| !c.succeeded())
        {
            break;
        }
        if t0.elapsed() > Duration::from_secs(25) {
            fail!("no ACR call within 25 s of the clock skew although the token lifetime is 10 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let codes: Vec<String> = ctx.token_calls().await?[before..]
        .iter()
        .map(|c| c.result.clone())
        .collect();
    ctx.figure("answers-during-skew", format!("{codes:?}"));
    acr.set_clock_offset_secs(0).await?;
    let old = current_fingerprint(ctx).await.unwrap_or_default();
    let t = until_new_credential(
        ctx,
        old,
        Duration::from_secs(40),
        "after the clock skew ended",
    )
    .await?;
    ctx.figure("recovery-from-skew", secs(t));
    Ok(())
}

async fn ft5(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("Secret ownership")?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    let secrets: Api<Secret> = Api::namespaced(ctx.env().client(), "default");
    for name in ctx.sa_pull_secret_names("default", "default").await? {
        let _ = secrets.delete(&name, &DeleteParams::default()).await;
    }
    let t = ctx
        .until_pulls("default", "default", PE_HZ, QUICK_DEADLINE)
        .await?;
    ctx.figure("secret-restored", secs(t));
    strip(ctx, "default", "default").await?;
    let t = ctx
        .until_pulls("default", "default", PE_HZ, QUICK_DEADLINE)
        .await?;
    ctx.figure("sa-restored", secs(t));
    Ok(())
}

async fn ft6(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("API server restarts")?;
    if !ctx.env().can_restart_apiserver() {
        return Err(Stop::NotApplicable(
            "mode existing: the suite cannot restart that API server".into(),
        ));
    }
    let late = ctx.namespace_name("late");
    ctx.configure(&[("watch-namespace", &format!("default,{late}"))])
        .await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    let t0 = Instant::now();
    ctx.env().restart_apiserver().await?;
    ctx.figure("apiserver-restart", secs(t0.elapsed()));
    ctx.check_alive().await?;
    ctx.env().create_namespace(&late).await?;
    let t = ctx
        .until_pulls(&late, "default", PE_HZ, Duration::from_secs(20))
        .await?;
    ctx.figure("new-namespace-after-restart", secs(t));
    strip(ctx, "default", "default").await?;
    ctx.until_pulls("default", "default", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    Ok(())
}
