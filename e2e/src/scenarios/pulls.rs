//! Judging pulls: the probe (a Pod's pull with its ServiceAccount's secrets, or a credential
//! source's answer), polling until a pull works or stops working, the negative windows that must
//! hold throughout, and a real kubelet's confirmation in probe mode `kubelet`.

use std::time::{Duration, Instant};

use super::lifecycle::tail;
use super::{
    CONVERGE_DEADLINE, Ctx, NEGATIVE_POLL, NEGATIVE_WINDOW, Outcome, POLL, Stop, check, fail, secs,
};
use crate::probe::{Credential, ProbeError, ProbeMode, ProbeOutcome, PullProbe};

impl Ctx<'_> {
    fn probe_tool(&self) -> Result<PullProbe, Stop> {
        let mut probe = PullProbe::new(self.env.client(), self.clouds()?.registry_access());
        if let Some(node) = self.env.node() {
            probe = probe.on_node(node.name());
        }
        Ok(match &self.setup.keyring {
            Some(keyring) => probe.with_kubelet_keyring(keyring.clone()),
            None => probe,
        })
    }

    /// Pull requests the credential source answered in this scenario so far, and when.
    pub fn source_requests(&self) -> &[(jiff::Timestamp, jiff::Timestamp)] {
        &self.requests
    }

    /// Could a Pod created now in `namespace` under `service_account` pull `image`? For
    /// credential-only adapters: the credentials the implementation returns for `image`.
    pub async fn probe(
        &mut self,
        namespace: &str,
        service_account: &str,
        image: &str,
    ) -> Result<ProbeOutcome, Stop> {
        let probe = self.probe_tool()?;
        if let Some(source) = self.source.as_mut() {
            let from = jiff::Timestamp::now();
            let answer = source.get(image).await.map_err(|e| match e {
                crate::adapter::AdapterError::Spawn { .. }
                | crate::adapter::AdapterError::Missing { .. }
                | crate::adapter::AdapterError::NoCommand { .. } => Stop::Abort(e.to_string()),
                crate::adapter::AdapterError::Keyring(_)
                | crate::adapter::AdapterError::ProviderConfig { .. } => {
                    let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
                    Stop::Abort(format!("{e}; kubelet's log:\n{}", tail(&log, 10)))
                }
                e => Stop::Fail(e.to_string()),
            })?;
            self.requests.push((from, jiff::Timestamp::now()));
            // docker hands the helper's answer to the pull as it is; kubelet's answer is already
            // in kubelet's order.
            let keys = answer.credentials.iter().map(|c| c.key.clone()).collect();
            let mut outcome = probe.in_order(image, keys, answer.credentials).await?;
            outcome.source_failure = answer.failure;
            return Ok(outcome);
        }
        let deadline = Instant::now() + CONVERGE_DEADLINE;
        loop {
            match probe.pod(namespace, service_account, image).await {
                Ok(o) => return Ok(o),
                // The ServiceAccount may not exist yet (controller-manager lag, or just created).
                Err(ProbeError::CreatePod {
                    source: kube::Error::Api(s),
                    ..
                }) if Instant::now() < deadline && (s.code == 403 || s.code == 404) => {
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// In probe mode `kubelet`: a real kubelet must agree with the suite's own verdict
    /// (`expect_pull`) for a Pod in `namespace` under `sa`. Nothing to do in mode `api` or for
    /// credential-only implementations.
    pub async fn confirm_with_kubelet(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        expect_pull: bool,
        outcome: &ProbeOutcome,
    ) -> Outcome {
        if self.setup.probe != ProbeMode::Kubelet || self.source.is_some() {
            return Ok(());
        }
        let verdict = self.probe_tool()?.kubelet(namespace, sa, image).await?;
        self.kubelet_pulls += 1;
        if !expect_pull && !verdict.pulled && !verdict.denied {
            return Err(Stop::Error(format!(
                "a real kubelet could not pull {image} in {namespace} for a reason other than credentials, so it cannot confirm the refusal: {}",
                verdict.explain()
            )));
        }
        check!(
            verdict.pulled == expect_pull,
            "the suite's own pull and a real kubelet disagree for a Pod in {namespace} \
             (ServiceAccount {sa}): suite — {}; {}",
            outcome.explain(),
            verdict.explain()
        );
        Ok(())
    }

    /// Pulls `image` with exactly `credential`, ignoring keys (cross-checks such as "a token of
    /// instance A is refused by instance B").
    pub async fn pull_with(&self, image: &str, credential: &Credential) -> Result<bool, Stop> {
        let probe = self.probe_tool()?;
        let forced = Credential {
            key: crate::adapter::registry_host(image),
            ..credential.clone()
        };
        Ok(probe.credentials(image, vec![forced]).await?.pulled())
    }

    /// Polls the probe until a credential pulls `image`; returns the time it took (in probe
    /// mode `kubelet`, a real kubelet then confirms, outside the measured time).
    pub async fn until_pulls(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        within: Duration,
    ) -> Result<Duration, Stop> {
        let (took, outcome) = self.until_pulls_api(namespace, sa, image, within).await?;
        self.confirm_with_kubelet(namespace, sa, image, true, &outcome)
            .await?;
        Ok(took)
    }

    /// As `until_pulls`, without the kubelet's confirmation: for scenarios that count what
    /// happens in a time window and confirm afterwards (`confirm_pulls`).
    pub async fn until_pulls_api(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        within: Duration,
    ) -> Result<(Duration, ProbeOutcome), Stop> {
        match self
            .poll_probe(
                namespace,
                sa,
                image,
                within,
                ProbeOutcome::pulled_with_credentials,
            )
            .await?
        {
            Ok(done) => Ok(done),
            Err(last) => fail!(
                "a Pod in {namespace} (ServiceAccount {sa}) could not pull within {:.1} s — {}",
                within.as_secs_f64(),
                last.explain()
            ),
        }
    }

    /// Fails if a Pod created now could pull `image` with credentials, at any time during
    /// [`NEGATIVE_WINDOW`] from now.
    pub async fn check_cannot_pull(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        why: &str,
    ) -> Outcome {
        self.hold_cannot_pull(&[(namespace, sa, image)], why).await
    }

    /// Fails if a Pod created in any of `targets` (namespace, ServiceAccount, image) could pull
    /// with credentials at any time during [`NEGATIVE_WINDOW`] from now (probed every 250 ms).
    pub async fn hold_cannot_pull(&mut self, targets: &[(&str, &str, &str)], why: &str) -> Outcome {
        self.hold_refused(targets, why, false).await
    }

    /// Fails unless, throughout [`NEGATIVE_WINDOW`] from now, no credential matches `image`
    /// (kubelet would pull anonymously) and the anonymous pull is refused.
    pub async fn check_no_credentials(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        why: &str,
    ) -> Outcome {
        self.hold_refused(&[(namespace, sa, image)], why, true)
            .await
    }

    async fn hold_refused(
        &mut self,
        targets: &[(&str, &str, &str)],
        why: &str,
        no_credentials: bool,
    ) -> Outcome {
        let t0 = Instant::now();
        let mut last = Vec::new();
        loop {
            last.clear();
            for (namespace, sa, image) in targets {
                let outcome = self.probe(namespace, sa, image).await?;
                let at = secs(t0.elapsed());
                if no_credentials {
                    check!(
                        outcome.no_credentials_matched() && !outcome.pulled(),
                        "{why}: expected no matching credentials and a refused anonymous pull, \
                         {at} into the {} s window — {}",
                        NEGATIVE_WINDOW.as_secs_f64(),
                        outcome.explain()
                    );
                } else {
                    check!(
                        !outcome.pulled(),
                        "{why}: a Pod in {namespace} (ServiceAccount {sa}) could pull {at} into \
                         the {} s window — {}",
                        NEGATIVE_WINDOW.as_secs_f64(),
                        outcome.explain()
                    );
                }
                last.push(outcome);
            }
            if t0.elapsed() >= NEGATIVE_WINDOW {
                break;
            }
            self.check_alive().await?;
            tokio::time::sleep(NEGATIVE_POLL).await;
        }
        for ((namespace, sa, image), outcome) in targets.iter().zip(&last) {
            self.confirm_with_kubelet(namespace, sa, image, false, outcome)
                .await?;
        }
        Ok(())
    }

    /// Polls until a Pod created in `namespace` under `sa` can no longer pull `image`; returns
    /// the time it took.
    pub async fn until_cannot_pull(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        within: Duration,
    ) -> Result<Duration, Stop> {
        match self
            .poll_probe(namespace, sa, image, within, |o| !o.pulled())
            .await?
        {
            Ok((took, _)) => Ok(took),
            Err(last) => fail!(
                "a Pod in {namespace} (ServiceAccount {sa}) could still pull {:.1} s later — {}",
                within.as_secs_f64(),
                last.explain()
            ),
        }
    }

    /// Probes a Pod in `namespace` under `sa` pulling `image` every [`POLL`] until `done` holds
    /// for the outcome: `Ok` with the time it took and that outcome, or `Err` with the last
    /// outcome once `within` has passed. Stops early when the implementation is no longer running.
    async fn poll_probe(
        &mut self,
        namespace: &str,
        sa: &str,
        image: &str,
        within: Duration,
        done: impl Fn(&ProbeOutcome) -> bool,
    ) -> Result<Result<(Duration, ProbeOutcome), ProbeOutcome>, Stop> {
        let t0 = Instant::now();
        loop {
            let outcome = self.probe(namespace, sa, image).await?;
            if done(&outcome) {
                return Ok(Ok((t0.elapsed(), outcome)));
            }
            if t0.elapsed() >= within {
                return Ok(Err(outcome));
            }
            self.check_alive().await?;
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A fingerprint of a credential for "was it replaced?" checks: never the secret itself.
pub fn fingerprint(c: &Credential) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    c.username.hash(&mut h);
    c.password.hash(&mut h);
    h.finish()
}
