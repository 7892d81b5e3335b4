//! Credential-only sources: the refresher's token logic (RAM-role STS from ECS metadata,
//! `GetAuthorizationToken`, `ListInstance`) answering one question per process.
//!
//! Modules: `docker_helper` (`acr-refresher credential-helper get|store|erase|list`, the
//! docker-credential-helpers protocol), `token_file` (the helper's token cache file: docker asks
//! its helper on every pull and caches nothing), `kubelet_provider` (`acr-refresher
//! kubelet-credential-provider`, the kubelet CredentialProvider exec-plugin protocol; kubelet
//! caches a provider's answers by `cacheKeyType` and `cacheDuration`, so it keeps no file).
//! Both take [`RenewalArgs`]: when a token is renewed, as `acr-refresher run` decides it, and
//! both fetch through [`fetch_token`].

pub mod docker_helper;
pub mod kubelet_provider;
pub mod token_file;

use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::acr::client::AcrClientError;
use crate::acr::{AcrClient, AcrClientSettings, AcrError, Edition, RegistryToken, TokenKey};
use crate::cloud_args::{CloudArgs, duration};
use crate::credentials::{CredentialsError, EcsMetadataClient, EcsMetadataSettings};
use crate::registry_domain::RegistryDomain;

/// When a token is renewed: the flags, environment variables and defaults of `acr-refresher run`
/// (its `expiring-threshold` default and `--min-renewal-interval`).
#[derive(Debug, Clone, Args)]
pub struct RenewalArgs {
    /// Renew a token once less than this much of its lifetime is left (Go duration; the
    /// refresher's `expiring-threshold` default).
    #[arg(long, env = "ACR_REFRESHER_EXPIRING_THRESHOLD", default_value = "15m", value_parser = duration)]
    pub expiring_threshold: Duration,
    /// Minimum time between two fetches of one token while it is valid (bounds a threshold >=
    /// the token lifetime, as `run`'s flag of the same name does).
    #[arg(long, env = "ACR_REFRESHER_MIN_RENEWAL_INTERVAL", default_value = "10s", value_parser = duration)]
    pub min_renewal_interval: Duration,
}

/// Why a credential source could not produce a token; never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The metadata client could not be set up.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The ACR client could not be set up (CA file, endpoint template).
    #[error(transparent)]
    AcrClient(#[from] AcrClientError),
    /// An ACR call failed.
    #[error("{host}: {source}")]
    Acr {
        /// The registry host asked about.
        host: String,
        /// The failure.
        source: Box<AcrError>,
    },
    /// The host names an Enterprise Edition instance that `ListInstance` does not list.
    #[error(
        "{host}: no Enterprise Edition instance named '{name}' in region {region} \
         (ListInstance lists: {listed})"
    )]
    InstanceNotFound {
        /// The registry host asked about.
        host: String,
        /// The instance name from the host.
        name: String,
        /// The region from the host.
        region: String,
        /// The instance names that region has, comma-separated (or `none`).
        listed: String,
    },
    /// A renewal (a valid token is cached) took longer than its budget allows.
    #[error("{host}: no token within {limit:?} (one short attempt: a valid token is cached)")]
    RenewalTimeout {
        /// The registry host asked about.
        host: String,
        /// The renewal's time limit.
        limit: Duration,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// The longest a renewal may take while a valid token is cached: docker waits for `get` on
/// every pull, and the cached token answers if the renewal fails.
pub const RENEWAL_TIME_LIMIT: Duration = Duration::from_secs(3);

/// How much patience a fetch has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchBudget {
    /// No valid token to fall back on: the retries and timeouts the flags allow.
    Full,
    /// A valid token is cached: one attempt per request, the whole fetch within
    /// [`FetchBudget::time_limit`] (min(`--acr-timeout`, [`RENEWAL_TIME_LIMIT`])).
    Renewal,
}

impl FetchBudget {
    /// The whole fetch's time limit; `None`: only the per-request timeouts and retries bound it.
    pub fn time_limit(self, cloud: &CloudArgs) -> Option<Duration> {
        match self {
            FetchBudget::Full => None,
            FetchBudget::Renewal => Some(cloud.acr_timeout.min(RENEWAL_TIME_LIMIT)),
        }
    }

    /// The metadata and ACR client settings `cloud` asks for, cut down to this budget.
    pub fn settings(self, cloud: &CloudArgs) -> (EcsMetadataSettings, AcrClientSettings) {
        let (mut metadata, mut acr) = (cloud.metadata_settings(), cloud.acr_settings());
        if let Some(limit) = self.time_limit(cloud) {
            metadata.attempts = 1;
            metadata.timeout = metadata.timeout.min(limit);
            acr.attempts = 1;
            acr.timeout = limit;
        }
        (metadata, acr)
    }
}

/// The registry host of a docker server URL (`https://host[:443]/v2/…`, `host`), lower-case
/// and without scheme, path or the default port; `None` when nothing is left.
pub fn server_host(server_url: &str) -> Option<String> {
    let text = server_url.trim();
    let text = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(text);
    let host = text.split('/').next().unwrap_or_default();
    let host = host.strip_suffix(":443").unwrap_or(host);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The ACR registry domain a host (no scheme or path) names; `None` for any other host,
/// including an ACR host with a port (ACR registries listen on 443 only).
pub fn acr_domain(host: &str) -> Option<RegistryDomain> {
    RegistryDomain::parse(host).ok()
}

/// Temporary registry credentials for ACR hosts, signed with the node's RAM role.
pub struct RegistryTokens {
    acr: AcrClient,
}

impl RegistryTokens {
    /// A source reaching the metadata server and ACR as `cloud` says.
    pub fn new(cloud: &CloudArgs) -> Result<Self, SourceError> {
        Self::with_budget(cloud, FetchBudget::Full)
    }

    /// A source reaching the metadata server and ACR as `cloud` says, as patient as `budget`.
    pub fn with_budget(cloud: &CloudArgs, budget: FetchBudget) -> Result<Self, SourceError> {
        let (metadata, acr) = budget.settings(cloud);
        let metadata = Arc::new(EcsMetadataClient::new(metadata)?);
        let acr = AcrClient::new(acr, metadata)?;
        Ok(Self { acr })
    }

    /// The token a registry domain needs: Personal Edition of its region, or the Enterprise
    /// Edition instance `ListInstance` finds by name in its region.
    pub async fn token_key(&self, domain: &RegistryDomain) -> Result<TokenKey, SourceError> {
        let host = domain.host();
        match (domain.edition, &domain.instance_name) {
            (Edition::Enterprise, Some(name)) => {
                let instances =
                    self.acr
                        .list_instances(&domain.region)
                        .await
                        .map_err(|source| SourceError::Acr {
                            host: host.clone(),
                            source: Box::new(source),
                        })?;
                match instances.iter().find(|i| i.instance_name == *name) {
                    Some(instance) => Ok(TokenKey::enterprise(
                        domain.region.clone(),
                        instance.instance_id.clone(),
                    )),
                    None => {
                        let names: Vec<&str> =
                            instances.iter().map(|i| i.instance_name.as_str()).collect();
                        Err(SourceError::InstanceNotFound {
                            host,
                            name: name.clone(),
                            region: domain.region.clone(),
                            listed: if names.is_empty() {
                                "none".into()
                            } else {
                                names.join(", ")
                            },
                        })
                    }
                }
            }
            _ => Ok(TokenKey::personal(domain.region.clone())),
        }
    }

    /// A fresh temporary token for `domain`.
    pub async fn token(&self, domain: &RegistryDomain) -> Result<RegistryToken, SourceError> {
        Ok(self.fetch(domain).await?.1)
    }

    /// A fresh temporary token for `domain` and the key (edition, region, instance id) it
    /// belongs to.
    pub async fn fetch(
        &self,
        domain: &RegistryDomain,
    ) -> Result<(TokenKey, RegistryToken), SourceError> {
        let key = self.token_key(domain).await?;
        let token = self
            .acr
            .get_authorization_token(&key)
            .await
            .map_err(|source| SourceError::Acr {
                host: domain.host(),
                source: Box::new(source),
            })?;
        Ok((key, token))
    }
}

/// A fresh token for `domain` and its key, fetched on a runtime of its own (one question per
/// process) with `budget`'s patience.
pub fn fetch_token(
    cloud: &CloudArgs,
    domain: &RegistryDomain,
    budget: FetchBudget,
) -> Result<(TokenKey, RegistryToken), SourceError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SourceError::Runtime)?;
    runtime.block_on(async {
        let tokens = RegistryTokens::with_budget(cloud, budget)?;
        match budget.time_limit(cloud) {
            None => tokens.fetch(domain).await,
            Some(limit) => tokio::time::timeout(limit, tokens.fetch(domain))
                .await
                .map_err(|_| SourceError::RenewalTimeout {
                    host: domain.host(),
                    limit,
                })?,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn renewal_defaults_are_the_refreshers() {
        #[derive(Parser)]
        struct Source {
            #[command(flatten)]
            renewal: RenewalArgs,
        }
        #[derive(Parser)]
        struct Run {
            #[command(flatten)]
            run: crate::run::RunArgs,
        }
        let source = Source::try_parse_from(["x"]).unwrap().renewal;
        let run = Run::try_parse_from(["x"]).unwrap().run;
        assert_eq!(source.min_renewal_interval, run.min_renewal_interval);
        assert_eq!(
            source.expiring_threshold,
            crate::config::DEFAULT_EXPIRING_THRESHOLD
        );
    }

    #[test]
    fn a_renewal_is_one_short_attempt_and_a_first_fetch_keeps_the_full_budget() {
        #[derive(Parser)]
        struct Cloud {
            #[command(flatten)]
            cloud: CloudArgs,
        }
        let cloud = |tail: &[&str]| {
            let argv = ["x"].into_iter().chain(tail.iter().copied());
            Cloud::try_parse_from(argv).unwrap().cloud
        };
        let defaults = cloud(&[]);
        let (metadata, acr) = FetchBudget::Full.settings(&defaults);
        assert_eq!((metadata.attempts, acr.attempts), (3, 4));
        assert_eq!(acr.timeout, Duration::from_secs(10));
        assert_eq!(FetchBudget::Full.time_limit(&defaults), None);

        let (metadata, acr) = FetchBudget::Renewal.settings(&defaults);
        assert_eq!((metadata.attempts, acr.attempts), (1, 1));
        assert_eq!(acr.timeout, RENEWAL_TIME_LIMIT);
        assert_eq!(metadata.timeout, Duration::from_secs(2));
        assert_eq!(
            FetchBudget::Renewal.time_limit(&defaults),
            Some(RENEWAL_TIME_LIMIT)
        );
        // A shorter --acr-timeout is kept; so is the rest of the flags.
        let quick = cloud(&["--acr-timeout", "1s", "--metadata-timeout", "5s"]);
        let (metadata, acr) = FetchBudget::Renewal.settings(&quick);
        assert_eq!(acr.timeout, Duration::from_secs(1));
        assert_eq!(metadata.timeout, Duration::from_secs(1));
        assert_eq!(acr.endpoint_template, quick.endpoint_template);
    }

    #[test]
    fn server_urls_reduce_to_hosts() {
        for (url, host) in [
            (
                "registry.cn-hangzhou.aliyuncs.com",
                "registry.cn-hangzhou.aliyuncs.com",
            ),
            (
                "https://registry.cn-hangzhou.aliyuncs.com/v2/\n",
                "registry.cn-hangzhou.aliyuncs.com",
            ),
            (
                "https://Demo-Registry.cn-beijing.cr.aliyuncs.com:443",
                "demo-registry.cn-beijing.cr.aliyuncs.com",
            ),
            ("localhost:5000", "localhost:5000"),
        ] {
            assert_eq!(server_host(url).as_deref(), Some(host), "{url}");
        }
        assert_eq!(server_host("  "), None);
        assert_eq!(server_host("https://"), None);
    }

    #[test]
    fn only_acr_hosts_without_ports_are_acr_domains() {
        assert!(acr_domain("registry.cn-hangzhou.aliyuncs.com").is_some());
        assert!(acr_domain("demo-hz-registry-vpc.cn-hangzhou.cr.aliyuncs.com").is_some());
        assert!(acr_domain("registry.cn-hangzhou.aliyuncs.com:5000").is_none());
        assert!(acr_domain("docker.io").is_none());
        assert!(acr_domain("cr.cn-hangzhou.aliyuncs.com").is_none());
    }
}
