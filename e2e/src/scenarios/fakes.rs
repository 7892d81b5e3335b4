//! The scenario's fakes: started with the settings the scenario planned, and what fake-acr
//! logged (GetAuthorizationToken calls), polled with deadlines.

use std::time::{Duration, Instant};

use super::{Ctx, Outcome, POLL, Stop, fail};
use crate::clouds::{Clouds, TokenCall};

impl Ctx<'_> {
    /// The running fakes (after `start`).
    pub fn clouds(&self) -> Result<&Clouds, Stop> {
        self.clouds
            .as_ref()
            .ok_or_else(|| Stop::Error("the clouds are started by ctx.start()".into()))
    }

    /// Starts only the fakes; their CA files go to `<work dir>/<ID>.fakes/` (scenarios of one
    /// run may run at the same time, each with its own fakes and CA).
    pub async fn start_clouds(&mut self) -> Outcome {
        if self.clouds.is_none() {
            let dir = self.work_dir.join(format!("{}.fakes", self.info.id));
            std::fs::create_dir_all(&dir)
                .map_err(|e| Stop::Error(format!("cannot create {}: {e}", dir.display())))?;
            let clouds = Clouds::start_for(
                &self.setup.fakes,
                self.acr.clone(),
                self.metadata.clone(),
                &dir,
                self.setup.netns.as_deref(),
            )
            .await?;
            self.clouds = Some(clouds);
        }
        Ok(())
    }

    /// GetAuthorizationToken calls fake-acr has logged (both editions).
    pub async fn token_calls(&self) -> Result<Vec<TokenCall>, Stop> {
        Ok(self.clouds()?.token_calls().await?)
    }

    /// Polls until fake-acr has logged at least `n` token calls satisfying `pred`.
    pub async fn until_token_calls(
        &mut self,
        n: usize,
        within: Duration,
        what: &str,
        pred: impl Fn(&TokenCall) -> bool,
    ) -> Result<Vec<TokenCall>, Stop> {
        let t0 = Instant::now();
        loop {
            let calls: Vec<TokenCall> = self
                .token_calls()
                .await?
                .into_iter()
                .filter(|c| pred(c))
                .collect();
            if calls.len() >= n {
                return Ok(calls);
            }
            if t0.elapsed() >= within {
                fail!(
                    "expected {n} GetAuthorizationToken calls {what} within {:.0} s, saw {}",
                    within.as_secs_f64(),
                    calls.len()
                );
            }
            self.check_alive().await?;
            tokio::time::sleep(POLL).await;
        }
    }
}
