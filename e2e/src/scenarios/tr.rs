//! TR — threshold-based refresh (cluster and source level).
//!
//! A credential source is judged by what its caller sees (see the catalogue's "Verdicts for
//! credential sources"): every pull works; every token handed out still has the time the caller
//! will use it left (docker: min(expiring-threshold, half the lifetime), as docker uses the answer
//! of each `get` for that pull only and asks again; kubelet: the pull itself, [`PULL_MARGIN`] —
//! kubelet's cache holds an answer for the plugin's `cacheDuration`, so a token that outlives
//! every hand-out from the cache outlives that duration); at most one ACR call per request, and
//! none outside a request. ACR calls per request is reported as a figure.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::images::{EE_BJ, EE_BJ_ID, EE_HZ, EE_HZ_ID, PE_HZ};
use super::mr::registry_info;
use super::{
    CONVERGE_DEADLINE, Ctx, Outcome, START_DEADLINE, boxed, check, fail, fingerprint, secs,
};

pub(super) fn body(id: &str) -> Option<super::ScenarioFn> {
    Some(match id {
        "TR1" => boxed!(tr1),
        "TR2" => boxed!(tr2),
        "TR3" => boxed!(tr3),
        "TR4" => boxed!(tr4),
        _ => return None,
    })
}

/// Token lifetime L of TR1.
const TR1_LIFETIME: u64 = 20;
/// Threshold T of TR1.
const TR1_THRESHOLD: u64 = 8;

/// What a pull needs at least: a token handed out must be valid this much longer.
pub const PULL_MARGIN: Duration = Duration::from_secs(2);

/// What continuous probing saw.
struct Continuous {
    /// Moments (since `t0`) at which the credential in use changed.
    changes: Vec<Duration>,
    /// Probes made.
    probes: usize,
    /// The least lifetime a used token had left when it was handed out (fake-acr's tokens carry
    /// their expiry), and when (since `t0`).
    least_left: Option<(jiff::SignedDuration, Duration)>,
}

/// The expiry of a fake-acr registry password: `base64(JSON) + ":" + hex`, the JSON's `time` in
/// epoch milliseconds (fake-acr/README.md, token formats).
fn token_expiry(password: &str) -> Option<jiff::Timestamp> {
    use base64::Engine as _;
    let (claims, _) = password.split_once(':')?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(claims)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(claims))
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&json).ok()?;
    // Milliseconds, written as a string (as the real tokens do) or a number.
    let time = value.get("time")?;
    let ms = time
        .as_i64()
        .or_else(|| time.as_str().and_then(|t| t.parse().ok()))?;
    jiff::Timestamp::from_millisecond(ms).ok()
}

/// A time of day (UTC) with milliseconds, for failure details.
fn clock(t: jiff::Timestamp) -> String {
    t.strftime("%H:%M:%S%.3f").to_string()
}

/// Probes `image` in `default` until `until`, failing on the first probe that cannot pull.
async fn pull_continuously(
    ctx: &mut Ctx<'_>,
    image: &str,
    t0: Instant,
    until: Instant,
) -> Result<Continuous, super::Stop> {
    let mut changes = Vec::new();
    let mut last = None;
    let mut probes = 0;
    let mut least_left: Option<(jiff::SignedDuration, Duration)> = None;
    while Instant::now() < until {
        let handed_out = jiff::Timestamp::now();
        let outcome = ctx.probe("default", "default", image).await?;
        probes += 1;
        let Some(used) = outcome.used.as_ref() else {
            fail!(
                "at t={:.1} s a Pod could not pull — {}",
                t0.elapsed().as_secs_f64(),
                outcome.explain()
            );
        };
        if let Some(expiry) = token_expiry(&used.password) {
            let left = expiry.duration_since(handed_out);
            if least_left.is_none_or(|(l, _)| left < l) {
                least_left = Some((left, t0.elapsed()));
            }
        }
        let print = fingerprint(used);
        if last.is_some_and(|l| l != print) {
            changes.push(t0.elapsed());
        }
        last = Some(print);
        ctx.check_alive().await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(Continuous {
        changes,
        probes,
        least_left,
    })
}

/// The verdicts for a credential source over a probing window that began at `window_start`
/// (UTC) with `calls_before` token calls logged: tokens handed out had `needed` left, at most one
/// ACR call per request, none outside a request.
async fn judge_source(
    ctx: &mut Ctx<'_>,
    seen: &Continuous,
    needed: Duration,
    window_start: jiff::Timestamp,
    calls_before: usize,
) -> Outcome {
    let Some((left, at)) = seen.least_left else {
        fail!(
            "no token the caller got could be read as one of fake-acr's (none carried an expiry)"
        );
    };
    {
        ctx.figure(
            "least-token-left",
            format!(
                "{:.1} s (at t={:.1} s)",
                left.as_secs_f64(),
                at.as_secs_f64()
            ),
        );
        check!(
            Duration::try_from(left).unwrap_or_default() >= needed,
            "at t={:.1} s the caller got a token with {:.1} s left, less than the {:.1} s it will use it for",
            at.as_secs_f64(),
            left.as_secs_f64(),
            needed.as_secs_f64()
        );
    }
    let calls: Vec<_> = ctx
        .token_calls()
        .await?
        .into_iter()
        .skip(calls_before)
        .collect();
    let requests: Vec<_> = ctx
        .source_requests()
        .iter()
        .filter(|(_, end)| *end >= window_start)
        .cloned()
        .collect();
    ctx.figure(
        "acr-calls-per-request",
        format!(
            "{:.2} ({} calls, {} requests)",
            calls.len() as f64 / requests.len().max(1) as f64,
            calls.len(),
            requests.len()
        ),
    );
    check!(
        calls.len() <= requests.len(),
        "{} GetAuthorizationToken calls for {} requests: more than one ACR call per request",
        calls.len(),
        requests.len()
    );
    // Clocks: the fake's log and the suite share this machine's clock; allow for rounding.
    let slack = jiff::SignedDuration::from_millis(500);
    let outside: Vec<String> = calls
        .iter()
        .filter(|c| {
            !requests
                .iter()
                .any(|(from, to)| c.at >= *from - slack && c.at <= *to + slack)
        })
        .map(|c| clock(c.at))
        .collect();
    check!(
        outside.is_empty(),
        "ACR calls while no request was being answered, at {outside:?}: a credential source calls ACR only when asked"
    );
    Ok(())
}

async fn tr1(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.acr.token_lifetime_secs = TR1_LIFETIME;
    ctx.configure(&[("expiring-threshold", &format!("{TR1_THRESHOLD}s"))])
        .await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    // Time zero is the issue of the first token (the fake's log); the probe runs until well
    // past the first token's expiry.
    let issued = ctx
        .token_calls()
        .await?
        .into_iter()
        .find(|c| c.succeeded())
        .map(|c| c.at);
    let Some(issued) = issued else {
        fail!("a pull worked but fake-acr logged no successful GetAuthorizationToken")
    };
    let age = Duration::try_from(jiff::Timestamp::now().duration_since(issued)).unwrap_or_default();
    let t0 = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
    let until = t0 + Duration::from_secs(TR1_LIFETIME + 4);
    let window_start = jiff::Timestamp::now();
    let calls_before = ctx.token_calls().await?.len();
    let seen = pull_continuously(ctx, PE_HZ, t0, until).await?;
    ctx.figure("probes", seen.probes.to_string());
    if !ctx.is_cluster_level() {
        // Every pull worked past the first token's expiry, so tokens were renewed in time; when
        // is the source's business (a helper without a cache renews on every request).
        if let Some(first) = seen.changes.first() {
            ctx.figure("replaced-at", secs(*first));
        }
        let needed =
            if ctx.implementation_kind() == crate::adapter::AdapterKind::DockerCredentialHelper {
                Duration::from_secs(TR1_THRESHOLD.min(TR1_LIFETIME / 2)) - Duration::from_secs(1)
            } else {
                PULL_MARGIN
            };
        return judge_source(ctx, &seen, needed, window_start, calls_before).await;
    }
    let Some(first) = seen.changes.first() else {
        fail!(
            "the credential was never replaced within L+4 s (L={TR1_LIFETIME} s, T={TR1_THRESHOLD} s)"
        );
    };
    ctx.figure("replaced-at", secs(*first));
    let earliest = Duration::from_secs(TR1_LIFETIME - TR1_THRESHOLD)
        .saturating_sub(Duration::from_millis(1500));
    check!(
        *first >= earliest,
        "replaced at {:.1} s, before L-T = {} s",
        first.as_secs_f64(),
        TR1_LIFETIME - TR1_THRESHOLD
    );
    check!(
        *first <= Duration::from_secs(TR1_LIFETIME),
        "replaced at {:.1} s, after the lifetime L = {TR1_LIFETIME} s",
        first.as_secs_f64()
    );
    Ok(())
}

async fn tr2(ctx: &mut Ctx<'_>) -> Outcome {
    // Long enough that an implementation with a renewal floor of up to ~15 s keeps pulling.
    const LIFETIME: u64 = 20;
    const WINDOW: u64 = 15;
    ctx.acr.token_lifetime_secs = LIFETIME;
    ctx.configure(&[("expiring-threshold", "30s")]).await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    let before = ctx.token_calls().await?.len();
    let window_start = jiff::Timestamp::now();
    let t0 = Instant::now();
    let seen = pull_continuously(ctx, PE_HZ, t0, t0 + Duration::from_secs(WINDOW)).await?;
    if !ctx.is_cluster_level() {
        // A threshold beyond the lifetime cannot be honoured: docker's answer must still last
        // half the lifetime.
        let needed =
            if ctx.implementation_kind() == crate::adapter::AdapterKind::DockerCredentialHelper {
                Duration::from_secs(LIFETIME / 2) - Duration::from_secs(1)
            } else {
                PULL_MARGIN
            };
        return judge_source(ctx, &seen, needed, window_start, before).await;
    }
    let calls = ctx.token_calls().await?.len() - before;
    ctx.figure("calls-in-window", format!("{calls} in {WINDOW} s"));
    check!(
        calls >= 1,
        "no refresh in {WINDOW} s although the threshold (30 s) exceeds the lifetime ({LIFETIME} s)"
    );
    check!(
        calls <= WINDOW as usize + 1,
        "{calls} GetAuthorizationToken calls in {WINDOW} s: a hot loop (more than one per second)"
    );
    Ok(())
}

async fn tr3(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("observing STS use through one long-running process")?;
    ctx.metadata.credential_lifetime = Duration::from_secs(15);
    ctx.metadata.rotation_lead_time = Duration::from_secs(5);
    ctx.acr.token_lifetime_secs = 10;
    ctx.configure(&[("expiring-threshold", "5s")]).await?;
    ctx.start().await?;
    ctx.until_pulls("default", "default", PE_HZ, START_DEADLINE)
        .await?;
    let admin = ctx.clouds()?.metadata();
    let first = admin.state().await?.current;
    let rotated = admin.rotate().await?;
    let (Some(first), Some(rotated)) = (first, rotated) else {
        fail!("fake-metadata has issued no credentials although a pull worked");
    };
    ctx.figure("rotated-to", rotated.access_key_id.clone());
    // The next ACR call after the rotation must be signed with newer credentials (fake-acr logs
    // the signing AccessKeyId); a call refused as expired means the old ones were kept too long.
    let expiry = first.expiration;
    let wait = Duration::try_from(expiry.duration_since(jiff::Timestamp::now()))
        .unwrap_or_default()
        + Duration::from_secs(12);
    let rotated_at = jiff::Timestamp::now();
    let calls = ctx
        .until_token_calls(1, wait, "after the first STS credentials expired", |c| {
            c.succeeded() && c.at > expiry
        })
        .await?;
    let stale: Vec<String> = ctx
        .token_calls()
        .await?
        .into_iter()
        .filter(|c| c.at > expiry && c.access_key_id.as_deref() == Some(&first.access_key_id))
        .map(|c| format!("{} at {}", c.result, clock(c.at)))
        .collect();
    check!(
        stale.is_empty(),
        "ACR calls after the first STS credentials expired were still signed with their AccessKeyId: {stale:?}"
    );
    let signers: Vec<String> = ctx
        .token_calls()
        .await?
        .into_iter()
        .filter(|c| c.at > rotated_at)
        .filter_map(|c| c.access_key_id)
        .collect();
    check!(
        signers.iter().any(|k| *k != first.access_key_id),
        "no ACR call since the rotation was signed with new credentials (signers: {signers:?})"
    );
    let refused: Vec<String> = ctx
        .token_calls()
        .await?
        .into_iter()
        .filter(|c| c.result.contains("SecurityToken"))
        .map(|c| c.result)
        .collect();
    check!(
        refused.is_empty(),
        "ACR refused calls signed with stale STS credentials: {refused:?}"
    );
    ctx.figure(
        "first-call-with-new-credentials",
        format!(
            "{:.1} s after expiry",
            calls[0].at.duration_since(expiry).as_secs_f64()
        ),
    );
    ctx.until_pulls("default", "default", PE_HZ, CONVERGE_DEADLINE)
        .await?;
    Ok(())
}

async fn tr4(ctx: &mut Ctx<'_>) -> Outcome {
    ctx.require_cluster("counting calls across namespaces")?;
    const LIFETIME: u64 = 12;
    const THRESHOLD: u64 = 6;
    const WINDOW: u64 = 13;
    ctx.acr.token_lifetime_secs = LIFETIME;
    let mut names = vec!["default".to_string()];
    for i in 1..=3 {
        names.push(ctx.namespace(&format!("n{i}")).await?);
    }
    let info = registry_info(&[
        (EE_HZ_ID, "cn-hangzhou", None),
        (EE_BJ_ID, "cn-beijing", None),
    ]);
    ctx.configure(&[
        ("watch-namespace", &names.join(",")),
        ("acr-registry-info", &info),
        ("expiring-threshold", &format!("{THRESHOLD}s")),
    ])
    .await?;
    ctx.start().await?;
    // Counted calls must not include what happens while a kubelet confirms (probe mode
    // kubelet): confirm after counting the first cycle, and the window starts after that.
    let mut ready = Vec::new();
    for ns in &names {
        let (_, hz) = ctx
            .until_pulls_api(ns, "default", EE_HZ, START_DEADLINE)
            .await?;
        let (_, bj) = ctx
            .until_pulls_api(ns, "default", EE_BJ, CONVERGE_DEADLINE)
            .await?;
        ready.push((ns.clone(), EE_HZ, hz));
        ready.push((ns.clone(), EE_BJ, bj));
    }
    let initial = per_token(&ctx.token_calls().await?);
    for (ns, image, outcome) in &ready {
        ctx.confirm_with_kubelet(ns, "default", image, true, outcome)
            .await?;
    }
    for (region, n) in &initial {
        check!(
            *n <= 2,
            "{n} GetAuthorizationToken calls for {region} to serve {} namespaces: calls scale with namespaces",
            names.len()
        );
    }
    let before = ctx.token_calls().await?.len();
    let mark = ctx.audit_mark();
    let window_start = jiff::Timestamp::now();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(WINDOW) {
        ctx.check_alive().await?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let window = per_token(&ctx.token_calls().await?[before..]);
    let cycles = WINDOW.div_ceil(LIFETIME - THRESHOLD) as usize + 1;
    for (region, n) in &window {
        check!(
            *n <= cycles,
            "{n} calls for {region} in {WINDOW} s (at most {cycles} refresh cycles) for {} namespaces",
            names.len()
        );
    }
    check!(
        !window.is_empty(),
        "no refresh within {WINDOW} s (lifetime {LIFETIME} s, threshold {THRESHOLD} s)"
    );
    ctx.figure(
        "calls",
        format!(
            "initial {initial:?}, next {WINDOW} s {window:?}, {} namespaces",
            names.len()
        ),
    );
    // A renewal allows one Secret update per served namespace and nothing else: at most as
    // many updates per namespace as token calls since just before the window (a renewal begun
    // then may write inside it), no ServiceAccount writes.
    if let Some(mark) = mark {
        // Each successful token call may change the Secret's bytes once: an implementation that
        // renews its tokens one by one may write after each (batching is not required).
        let renewals = ctx
            .token_calls()
            .await?
            .iter()
            .filter(|c| c.succeeded() && c.at >= window_start - jiff::SignedDuration::from_secs(2))
            .count();
        let writes = ctx.writes_since(mark);
        let mut per_namespace: BTreeMap<String, usize> = BTreeMap::new();
        for w in &writes {
            check!(
                w.resource != "serviceaccounts",
                "ServiceAccount {}/{} was written ({}) during renewals",
                w.namespace,
                w.name,
                w.verb
            );
            if w.resource == "secrets" {
                *per_namespace.entry(w.namespace.clone()).or_default() += 1;
            }
        }
        ctx.figure(
            "secret-writes",
            format!("{per_namespace:?} for {renewals} token renewal(s)"),
        );
        for (ns, n) in &per_namespace {
            check!(
                *n <= renewals,
                "{n} Secret writes in {ns} for {renewals} token renewal(s) in {WINDOW} s: Secrets rewritten without a new token"
            );
        }
    } else {
        ctx.figure(
            "secret-writes",
            "not counted (no audit log in mode existing)",
        );
    }
    Ok(())
}

/// Calls per token: `region/instance` (Enterprise Edition) or `region/personal`.
fn per_token(calls: &[crate::clouds::TokenCall]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in calls {
        let instance = c.instance_id.as_deref().unwrap_or("personal");
        *m.entry(format!("{}/{instance}", c.region)).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn fake_acr_passwords_carry_their_expiry() {
        let claims = base64::engine::general_purpose::STANDARD.encode(
            br#"{"region":"cn-hangzhou","time":"1700000000123","type":"sub","userId":"u"}"#,
        );
        let expiry = token_expiry(&format!("{claims}:{}", "ab".repeat(20))).unwrap();
        assert_eq!(expiry.as_millisecond(), 1_700_000_000_123);
        assert_eq!(token_expiry("not-a-token"), None);
        assert_eq!(token_expiry("e30=:00"), None); // `{}`: no time
    }
}
