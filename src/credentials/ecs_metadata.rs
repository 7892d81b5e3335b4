//! The ECS instance metadata service (IMDS): the node's RAM-role STS credentials and region.
//!
//! Hardened mode first (`PUT /latest/api/token`, then the token in `X-aliyun-ecs-metadata-token`),
//! falling back to plain mode unless `ALIBABA_CLOUD_IMDSV1_DISABLED=true` (as the official SDKs do).
//! Credentials are cached, renewed before they expire, and kept in use while still valid when
//! the metadata server fails.

use std::sync::Mutex;
use std::time::Duration;

use acs_wire::sign::Credentials;
use acs_wire::sts::{EcsRamRoleCredentials, parse_ecs_time};
use futures::future::BoxFuture;
use jiff::Timestamp;

use super::{CredentialSource, CredentialsError};
use crate::retry::{Jitter, RetryPolicy};

/// The metadata server's address on every ECS instance.
pub const DEFAULT_ENDPOINT: &str = "http://100.100.100.200";
/// Env: metadata endpoint override (the convention of other Alibaba clients).
pub const ENDPOINT_ENV: &str = "ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT";
/// Env: RAM role name (skips the role discovery call).
pub const ROLE_ENV: &str = "ALIBABA_CLOUD_ECS_METADATA";
/// Env: `true` makes hardened mode mandatory (no plain-mode fallback).
pub const IMDSV1_DISABLED_ENV: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";

const TOKEN_HEADER: &str = "X-aliyun-ecs-metadata-token";
const TOKEN_TTL_HEADER: &str = "X-aliyun-ecs-metadata-token-ttl-seconds";
const CREDENTIALS_PATH: &str = "/latest/meta-data/ram/security-credentials/";
const REGION_PATH: &str = "/latest/meta-data/region-id";

/// How to reach and use the metadata server.
#[derive(Clone, Debug)]
pub struct EcsMetadataSettings {
    /// Base URL, e.g. `http://100.100.100.200`.
    pub endpoint: String,
    /// RAM role name; discovered from the server when `None`.
    pub role: Option<String>,
    /// Refuse plain mode: every request carries a hardened-mode token.
    pub imdsv1_disabled: bool,
    /// Per-request timeout (the official SDKs use 1 s connect + 1 s read).
    pub timeout: Duration,
    /// Hardened-mode token lifetime asked for (1–21600 s).
    pub token_ttl: Duration,
    /// Attempts per request on connection errors and 5xx.
    pub attempts: u32,
}

impl Default for EcsMetadataSettings {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            role: None,
            imdsv1_disabled: false,
            timeout: Duration::from_secs(2),
            token_ttl: Duration::from_secs(21600),
            attempts: 3,
        }
    }
}

impl EcsMetadataSettings {
    /// Defaults overridden by the standard Alibaba environment variables.
    pub fn from_env() -> Self {
        let mut settings = Self::default();
        if let Ok(endpoint) = std::env::var(ENDPOINT_ENV)
            && !endpoint.trim().is_empty()
        {
            settings.endpoint = endpoint;
        }
        settings.role = std::env::var(ROLE_ENV)
            .ok()
            .filter(|r| !r.trim().is_empty());
        settings.imdsv1_disabled = std::env::var(IMDSV1_DISABLED_ENV)
            .map(|v| v.trim().eq_ignore_ascii_case("true"))
            .unwrap_or(false);
        settings
    }

    fn base_url(&self) -> String {
        let endpoint = self.endpoint.trim().trim_end_matches('/');
        // Other clients accept a bare host here (`100.100.100.200`).
        if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
            endpoint.to_owned()
        } else {
            format!("http://{endpoint}")
        }
    }
}

/// STS credentials with their expiry, as cached.
#[derive(Clone)]
struct CachedCredentials {
    credentials: Credentials,
    expiration: Timestamp,
    fetched_at: Timestamp,
}

impl CachedCredentials {
    /// Renew once less than a quarter of the lifetime seen at fetch time is left, and never later
    /// than 3 minutes before expiry (the Go SDK's rule), so that an ACR call signed just before
    /// renewal still reaches the server with valid credentials.
    fn needs_renewal(&self, now: Timestamp) -> bool {
        let lifetime = self.expiration.duration_since(self.fetched_at);
        let margin = (lifetime / 4).min(jiff::SignedDuration::from_mins(3));
        self.expiration.duration_since(now) <= margin
    }
}

#[derive(Default)]
struct State {
    credentials: Option<CachedCredentials>,
    metadata_token: Option<(String, Timestamp)>,
    role: Option<String>,
    /// After a failed fetch, no new attempt before this instant (valid credentials are served meanwhile).
    retry_at: Option<Timestamp>,
}

/// Client of the ECS metadata service; cheap to share behind an `Arc`.
pub struct EcsMetadataClient {
    settings: EcsMetadataSettings,
    http: reqwest::Client,
    state: tokio::sync::Mutex<State>,
    invalidated: Mutex<bool>,
}

impl std::fmt::Debug for EcsMetadataClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcsMetadataClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl EcsMetadataClient {
    /// A client with `settings`.
    pub fn new(settings: EcsMetadataSettings) -> Result<Self, CredentialsError> {
        let unreachable = |reason: String| CredentialsError::MetadataUnreachable {
            url: settings.base_url(),
            reason: format!("cannot build HTTP client: {reason}"),
        };
        let tls = crate::tls::client_config(Vec::new()).map_err(|e| unreachable(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // The metadata server is link-local; a proxy from the environment must not capture it.
            .no_proxy()
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(Self {
            settings,
            http,
            state: tokio::sync::Mutex::new(State::default()),
            invalidated: Mutex::new(false),
        })
    }

    /// The node's region (`/latest/meta-data/region-id`).
    pub async fn region(&self) -> Result<String, CredentialsError> {
        let mut state = self.state.lock().await;
        let url = format!("{}{REGION_PATH}", self.settings.base_url());
        let region = self.get_text(&mut state, &url).await?;
        if region.is_empty() {
            return Err(CredentialsError::MetadataDocument {
                url,
                reason: "empty region".into(),
            });
        }
        Ok(region)
    }

    /// STS credentials valid now; renews from the server when due.
    pub async fn sts_credentials(&self) -> Result<Credentials, CredentialsError> {
        let mut state = self.state.lock().await;
        let now = Timestamp::now();
        let forced =
            std::mem::take(&mut *self.invalidated.lock().unwrap_or_else(|p| p.into_inner()));
        if forced {
            state.credentials = None;
            state.retry_at = None;
        }
        if let Some(cached) = &state.credentials
            && !cached.needs_renewal(now)
        {
            return Ok(cached.credentials.clone());
        }
        let still_valid = state
            .credentials
            .as_ref()
            .filter(|c| c.expiration > now)
            .map(|c| c.credentials.clone());
        if let (Some(retry_at), Some(valid)) = (state.retry_at, &still_valid)
            && now < retry_at
        {
            return Ok(valid.clone());
        }
        match self.fetch_credentials(&mut state).await {
            Ok(fresh) => {
                state.retry_at = None;
                let credentials = fresh.credentials.clone();
                state.credentials = Some(fresh);
                Ok(credentials)
            }
            Err(error) => {
                // Keep serving what is still valid; try the server again a little later.
                state.retry_at = Some(now + jiff::SignedDuration::from_secs(1));
                match still_valid {
                    Some(valid) => {
                        tracing::warn!(%error, "ECS metadata renewal failed; still-valid STS credentials stay in use");
                        Ok(valid)
                    }
                    None => Err(error),
                }
            }
        }
    }

    async fn fetch_credentials(
        &self,
        state: &mut State,
    ) -> Result<CachedCredentials, CredentialsError> {
        let base = self.settings.base_url();
        let role = match (&self.settings.role, &state.role) {
            (Some(role), _) | (None, Some(role)) => role.clone(),
            (None, None) => {
                let url = format!("{base}{CREDENTIALS_PATH}");
                let listing = self.get_text(state, &url).await?;
                let role = listing.lines().next().unwrap_or_default().trim().to_owned();
                if role.is_empty() {
                    return Err(CredentialsError::MetadataDocument {
                        url,
                        reason: "no RAM role is attached to this instance".into(),
                    });
                }
                state.role = Some(role.clone());
                role
            }
        };
        let url = format!("{base}{CREDENTIALS_PATH}{role}");
        let body = self.get_text(state, &url).await?;
        let document = EcsRamRoleCredentials::parse(&body).map_err(|e| {
            CredentialsError::MetadataDocument {
                url: url.clone(),
                reason: e.reason,
            }
        })?;
        // A missing Code is accepted (some servers omit it); any other value is a failure.
        if let Some(code) = &document.code
            && code != "Success"
        {
            return Err(CredentialsError::MetadataDocument {
                url,
                reason: format!("Code is {code:?}, not \"Success\""),
            });
        }
        let missing = [
            ("AccessKeyId", document.access_key_id.is_empty()),
            ("AccessKeySecret", document.access_key_secret.is_empty()),
            ("SecurityToken", document.security_token.is_empty()),
        ];
        if let Some((field, _)) = missing.iter().find(|(_, empty)| *empty) {
            return Err(CredentialsError::MetadataDocument {
                url,
                reason: format!("{field} is empty"),
            });
        }
        let expiration = parse_ecs_time(&document.expiration).map_err(|e| {
            CredentialsError::MetadataDocument {
                url: url.clone(),
                reason: e.reason,
            }
        })?;
        let now = Timestamp::now();
        if expiration <= now {
            return Err(CredentialsError::MetadataDocument {
                url,
                reason: format!("credentials already expired at {expiration}"),
            });
        }
        Ok(CachedCredentials {
            credentials: Credentials {
                access_key_id: document.access_key_id,
                access_key_secret: document.access_key_secret,
                security_token: Some(document.security_token),
            },
            expiration,
            fetched_at: now,
        })
    }

    /// GET `url` as text, with the hardened-mode token when one can be had.
    async fn get_text(&self, state: &mut State, url: &str) -> Result<String, CredentialsError> {
        let mut retried_token = false;
        loop {
            let token = self.metadata_token(state).await?;
            let result = self
                .with_retries(url, || {
                    let mut request = self.http.get(url);
                    if let Some(token) = &token {
                        request = request.header(TOKEN_HEADER, token);
                    }
                    request
                })
                .await;
            match result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    // A rejected token (expired, server restarted): get a new one once.
                    if status == 401 && token.is_some() && !retried_token {
                        retried_token = true;
                        state.metadata_token = None;
                        continue;
                    }
                    if !(200..300).contains(&status) {
                        return Err(status_error(url, status));
                    }
                    let body = response.text().await.map_err(|e| {
                        CredentialsError::MetadataUnreachable {
                            url: url.to_owned(),
                            reason: e.to_string(),
                        }
                    })?;
                    return Ok(body.trim().to_owned());
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The hardened-mode token, or `None` in plain mode (fallback allowed).
    async fn metadata_token(&self, state: &mut State) -> Result<Option<String>, CredentialsError> {
        let now = Timestamp::now();
        if let Some((token, expires)) = &state.metadata_token
            && *expires > now
        {
            return Ok(Some(token.clone()));
        }
        let url = format!("{}/latest/api/token", self.settings.base_url());
        let ttl = self.settings.token_ttl.as_secs().clamp(1, 21600);
        let result = self
            .with_retries(&url, || {
                self.http
                    .put(&url)
                    .header(TOKEN_TTL_HEADER, ttl.to_string())
            })
            .await
            .and_then(|response| {
                let status = response.status().as_u16();
                if (200..300).contains(&status) {
                    Ok(response)
                } else {
                    Err(status_error(&url, status))
                }
            });
        let token = match result {
            Ok(response) => response
                .text()
                .await
                .map(|t| t.trim().to_owned())
                .map_err(|e| CredentialsError::MetadataUnreachable {
                    url: url.clone(),
                    reason: e.to_string(),
                }),
            Err(error) => Err(error),
        };
        match token {
            Ok(token) if !token.is_empty() => {
                // Renew well before the server forgets it: at 80 % of the TTL.
                let keep = jiff::SignedDuration::from_secs((ttl as i64 * 4) / 5);
                state.metadata_token = Some((token.clone(), now + keep));
                Ok(Some(token))
            }
            Ok(_) | Err(_) if !self.settings.imdsv1_disabled => {
                tracing::debug!("ECS metadata hardened-mode token unavailable; using plain mode");
                Ok(None)
            }
            Ok(_) => Err(CredentialsError::HardenedModeUnavailable(Box::new(
                CredentialsError::MetadataDocument {
                    url,
                    reason: "empty token".into(),
                },
            ))),
            Err(error) => Err(CredentialsError::HardenedModeUnavailable(Box::new(error))),
        }
    }

    /// Sends a request, retrying connection errors, timeouts and 5xx with a short backoff.
    async fn with_retries(
        &self,
        url: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CredentialsError> {
        let policy = RetryPolicy {
            initial: Duration::from_millis(100),
            factor: 2,
            cap: Duration::from_millis(6400),
            jitter: Jitter::UpperHalf,
            max_tries: None,
        }
        .with_max_tries(self.settings.attempts);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let retries = policy.retries_after(attempt);
            let error = match build().send().await {
                Ok(response) if response.status().is_server_error() && retries => {
                    status_error(url, response.status().as_u16())
                }
                Ok(response) => return Ok(response),
                Err(error) => {
                    let reason = if error.is_timeout() {
                        format!("no answer within {:?}", self.settings.timeout)
                    } else {
                        describe(&error)
                    };
                    CredentialsError::MetadataUnreachable {
                        url: url.to_owned(),
                        reason,
                    }
                }
            };
            if !retries {
                return Err(error);
            }
            tokio::time::sleep(policy.delay(attempt)).await;
        }
    }
}

fn status_error(url: &str, status: u16) -> CredentialsError {
    let hint = match status {
        401 => Some("hardened-mode token missing or rejected"),
        403 => Some("metadata access forbidden"),
        404 => Some("the RAM role was not found on this instance"),
        _ => None,
    };
    CredentialsError::MetadataStatus {
        url: url.to_owned(),
        status,
        hint,
    }
}

/// The error and its causes on one line (reqwest's Display alone says only "error sending request").
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl CredentialSource for EcsMetadataClient {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(self.sts_credentials())
    }

    fn invalidate(&self) {
        *self.invalidated.lock().unwrap_or_else(|p| p.into_inner()) = true;
    }
}
