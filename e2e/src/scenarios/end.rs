//! The checks every cluster-level scenario ends with, while the implementation still runs: the
//! sweep of every namespace (only what the configuration selects carries the implementation's
//! Secrets and entries) and every key it wrote justified by a pull with its own credential.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::images::{EE_HZ, PE_HZ};
use super::{Ctx, Outcome, fail, fingerprint};
use crate::probe::{Credential, credentials_of_secret};
use crate::sweep::{Entry, snapshot, violations, written};

/// How long the end sweep waits for the cluster to match the selection: the catalogue's 2 s
/// for an effect plus a margin (a scenario may end right after a configuration change).
pub const SWEEP_GRACE: Duration = Duration::from_millis(2500);

/// Repositories of the fake world, by edition: a key's host is pulled from with each.
fn repositories() -> [&'static str; 2] {
    let repo = |image: &'static str| {
        let path = image.split_once('/').map_or("", |(_, p)| p);
        path.rsplit_once(':').map_or(path, |(p, _)| p)
    };
    [repo(PE_HZ), repo(EE_HZ)]
}

/// The host (and port) of a kubelet-style key: scheme and path dropped.
fn key_host(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

impl Ctx<'_> {
    /// Records an `imagePullSecrets` entry the suite wrote itself (not the implementation's).
    pub fn suite_entry(&mut self, namespace: &str, sa: &str, secret: &str) {
        self.suite_entries
            .insert((namespace.into(), sa.into(), secret.into()));
    }

    /// The end-of-scenario checks (cluster level only): sweep, then keys.
    pub async fn end_checks(&mut self) -> Outcome {
        if !self.is_cluster_level() {
            return Ok(());
        }
        self.sweep().await?;
        if self.judge_keys_at_end {
            self.check_keys_justified().await?;
        }
        Ok(())
    }

    /// Every namespace of the cluster: only the selected namespaces and ServiceAccounts carry
    /// the implementation's pull Secrets and entries, every entry names an existing pull Secret,
    /// none twice. Polled for [`SWEEP_GRACE`] until it holds.
    pub async fn sweep(&mut self) -> Outcome {
        let client = self.env.client();
        let baseline = self.env.baseline();
        let t0 = Instant::now();
        loop {
            let all = snapshot(&client).await?;
            let namespaces = all.namespaces;
            let ours = written(all.clone(), &baseline, &self.suite_entries);
            let problems = violations(&self.selection, &ours, &all);
            if problems.is_empty() {
                self.figure(
                    "sweep",
                    format!(
                        "{namespaces} namespaces: {} Secret(s), {} entr(ies), all selected",
                        ours.secrets.len(),
                        ours.entries.len()
                    ),
                );
                return Ok(());
            }
            if t0.elapsed() >= SWEEP_GRACE {
                fail!(
                    "sweep of all {namespaces} namespaces, {:.1} s after the scenario's last step: {}",
                    SWEEP_GRACE.as_secs_f64(),
                    problems.join("; ")
                );
            }
            self.check_alive().await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// For each key of each pull Secret the implementation wrote (anywhere): the key is a host,
    /// not a pattern, and a pull from that host with that key's credential succeeds — so a
    /// glob key, a key for a host the token does not serve or a wrong-region token fails.
    pub async fn check_keys_justified(&mut self) -> Outcome {
        let client = self.env.client();
        let baseline = self.env.baseline();
        let ours = written(
            snapshot(&client).await?,
            &baseline,
            &BTreeSet::<Entry>::new(),
        );
        let mut judged: BTreeSet<(String, u64)> = BTreeSet::new();
        let mut problems = Vec::new();
        for s in &ours.secrets {
            for c in credentials_of_secret(&s.secret) {
                if !judged.insert((c.key.clone(), fingerprint(&c))) {
                    continue;
                }
                if let Some(problem) = self.justify(&c).await? {
                    problems.push(format!("{}/{}: {problem}", s.namespace, s.name));
                }
            }
        }
        self.figure("keys-justified", judged.len().to_string());
        if !problems.is_empty() {
            fail!(
                "keys the implementation wrote that no pull justifies: {}",
                problems.join("; ")
            );
        }
        Ok(())
    }

    /// `None` when a pull from the key's host with its credential succeeds.
    async fn justify(&self, c: &Credential) -> Result<Option<String>, super::Stop> {
        if c.key.contains('*') {
            return Ok(Some(format!(
                "key {} is a pattern: one token cannot serve every host it matches",
                c.key
            )));
        }
        let host = key_host(&c.key);
        for repo in repositories() {
            if self.pull_with(&format!("{host}/{repo}:latest"), c).await? {
                return Ok(None);
            }
        }
        Ok(Some(format!(
            "key {} : a pull from {host} with this key's credential is refused",
            c.key
        )))
    }
}
