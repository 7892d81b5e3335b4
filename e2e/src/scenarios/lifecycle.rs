//! The implementation's lifecycle within a scenario: its endpoints and state directory, start
//! and restart (process, deployed or credential source), stop, and the liveness check every
//! polling loop makes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Ctx, NODE_REGION, Outcome, Stop, fail};
use crate::adapter::{AdapterKind, Endpoints};
use crate::deployment::DeployedImplementation;

impl<'e> Ctx<'e> {
    /// The implementation's state directory in this scenario (`{state_dir}`).
    pub fn state_dir(&self) -> PathBuf {
        self.work_dir.join(format!("{}.state", self.info.id))
    }

    /// Where the implementation's output went.
    pub fn log_file(&self) -> PathBuf {
        self.work_dir
            .join(format!("{}.implementation.log", self.info.id))
    }

    /// Starts the fakes (with the planned settings) and the implementation.
    pub async fn start(&mut self) -> Outcome {
        self.start_clouds().await?;
        self.start_implementation().await
    }

    fn endpoints(&self) -> Result<Endpoints, Stop> {
        let clouds = self.clouds()?;
        let netns = self.setup.netns.as_ref().map(|n| n.name().to_string());
        let (metadata, metadata_proxy, acr, proxy) = if netns.is_some() {
            (
                format!("http://{}", crate::netns::METADATA_ADDR.ip()),
                String::new(),
                crate::netns::ACR_ADDR.to_string(),
                String::new(),
            )
        } else {
            (
                clouds.metadata_url(),
                clouds.metadata_url(),
                clouds.acr_address(),
                clouds.proxy_url(),
            )
        };
        Ok(Endpoints {
            kubeconfig: self.env.kubeconfig(),
            metadata,
            metadata_proxy,
            acr,
            acr_hosts: clouds.acr_hosts(),
            ca_file: clouds.ca_file().to_path_buf(),
            ca_bundle: clouds.ca_bundle().to_path_buf(),
            proxy,
            region: NODE_REGION.to_string(),
            role: self.metadata.role.clone(),
            netns,
            log_file: self.log_file(),
            expiring_threshold: self
                .expiring_threshold
                .clone()
                .unwrap_or_else(|| "15m".to_string()),
            state_dir: self.state_dir(),
        })
    }

    /// (Re)starts the implementation process (or prepares the credential source).
    pub async fn start_implementation(&mut self) -> Outcome {
        let endpoints = self.endpoints()?;
        // Empty at the scenario's first start, kept across restarts within it.
        if self.process.is_none() && self.source.is_none() && !self.deployed_up {
            let _ = std::fs::remove_dir_all(&endpoints.state_dir);
        }
        // Owner-only: an implementation may keep credentials there (a helper's token cache).
        std::fs::create_dir_all(&endpoints.state_dir)
            .and_then(|()| {
                std::fs::set_permissions(
                    &endpoints.state_dir,
                    std::os::unix::fs::PermissionsExt::from_mode(0o700),
                )
            })
            .map_err(|e| {
                Stop::Error(format!(
                    "cannot create {}: {e}",
                    endpoints.state_dir.display()
                ))
            })?;
        if let Some(p) = self.process.take() {
            p.stop().await;
        }
        match self.implementation.kind {
            AdapterKind::Deployment => {
                let deployed = self.deployed()?;
                if self.deployed_up {
                    deployed.stop(&self.log_file()).await?;
                    self.deployed_up = false;
                }
                // Up from the moment it is scaled: a start that fails or times out must still be
                // parked by `stop`, or it would write into the next scenario.
                self.deployed_up = true;
                deployed.start().await?;
            }
            AdapterKind::Process => {
                let p = self
                    .implementation
                    .start(&endpoints)
                    .await
                    .map_err(|e| match e {
                        crate::adapter::AdapterError::Spawn { .. } => Stop::Abort(e.to_string()),
                        e => Stop::Error(e.to_string()),
                    })?;
                self.process = Some(p);
            }
            _ => self.source = Some(self.implementation.credential_source(&endpoints)),
        }
        Ok(())
    }

    fn deployed(&self) -> Result<&'e DeployedImplementation, Stop> {
        self.setup.deployed.as_ref().ok_or_else(|| {
            Stop::Error("adapter deployment needs --deployment NAMESPACE/NAME".into())
        })
    }

    /// Stops the implementation (end of scenario); a deployed one that cannot be scaled down is
    /// an error (it would write into the next scenario).
    pub async fn stop(&mut self) -> Result<(), Stop> {
        if let Some(p) = self.process.take() {
            p.stop().await;
        }
        self.source = None;
        if self.deployed_up {
            self.deployed_up = false;
            self.deployed()?.stop(&self.log_file()).await?;
        }
        Ok(())
    }

    /// Fails if the implementation process has exited, or a container of the deployed one
    /// restarted ("no crash"). Pods are checked at most once a second.
    pub async fn check_alive(&mut self) -> Outcome {
        let log_file = self.log_file();
        if let Some(p) = self.process.as_mut()
            && let Some(status) = p.exited()
        {
            // Within a moment of its start: it cannot run here at all (a bad flag, a missing
            // library), which no scenario can judge.
            if p.age() < EXITS_AT_ONCE {
                let output = std::fs::read_to_string(&log_file).unwrap_or_default();
                return Err(Stop::Abort(format!(
                    "the implementation '{}' exited {:.1} s after it was started ({status}); its output:\n{}",
                    self.implementation.command.join(" "),
                    p.age().as_secs_f64(),
                    tail(&output, 20)
                )));
            }
            fail!(
                "the implementation exited ({status}); its output is in {}",
                self.log_file().display()
            );
        }
        if self.deployed_up
            && self
                .crash_checked
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.crash_checked = Some(Instant::now());
            if let Some(what) = self.deployed()?.crashed().await? {
                fail!(
                    "the implementation crashed: {what}; its logs are saved to {}",
                    self.log_file().display()
                );
            }
        }
        Ok(())
    }
}

/// An implementation that exits sooner than this after its start cannot run here at all.
const EXITS_AT_ONCE: Duration = Duration::from_secs(3);

/// The last `n` lines of `text`.
pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
