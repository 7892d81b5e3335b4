//! The ACR OpenAPI client: tokens for both editions and Enterprise Edition instance discovery.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use acs_wire::error::PopError;
use acs_wire::sign::{Credentials, SignableRequest, roa_v1, rpc_v1, v3};
use jiff::Timestamp;
use serde_json::Value;

use super::{AcrError, Edition, RegistryToken, TokenKey};
use crate::credentials::SharedCredentials;
use crate::retry::RetryPolicy;

/// The default OpenAPI endpoint template; `{region}` is replaced by the region id.
pub const DEFAULT_ENDPOINT_TEMPLATE: &str = "https://cr.{region}.aliyuncs.com";
/// Enterprise Edition API version.
pub const EE_API_VERSION: &str = "2018-12-01";
/// Personal Edition API version.
pub const PERSONAL_API_VERSION: &str = "2016-06-07";

/// Which request signature the client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SignatureVersion {
    /// `ACS3-HMAC-SHA256`, what current official SDKs send.
    #[default]
    V3,
    /// HMAC-SHA1: RPC V1 for Enterprise Edition, ROA V1 for Personal Edition (older SDKs).
    V1,
}

/// How the client reaches ACR.
#[derive(Clone, Debug)]
pub struct AcrClientSettings {
    /// Endpoint URL template with `{region}`.
    pub endpoint_template: String,
    /// Request signature.
    pub signature: SignatureVersion,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts per call on 5xx, throttling and connection errors.
    pub attempts: u32,
    /// First backoff; doubled per attempt, with jitter.
    pub retry_base: Duration,
    /// Largest backoff (also caps a server's TimeLeft hint).
    pub retry_max: Duration,
    /// Extra PEM CA bundle trusted for the endpoints (test CAs).
    pub extra_ca_file: Option<PathBuf>,
    /// Host name → address overrides, like curl's `--resolve` (the URL's port is kept).
    pub resolve: Vec<(String, SocketAddr)>,
}

impl Default for AcrClientSettings {
    fn default() -> Self {
        Self {
            endpoint_template: DEFAULT_ENDPOINT_TEMPLATE.to_owned(),
            signature: SignatureVersion::V3,
            timeout: Duration::from_secs(10),
            attempts: 4,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(20),
            extra_ca_file: None,
            resolve: Vec::new(),
        }
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AcrClientError {
    /// The extra CA file could not be read or parsed.
    #[error("extra CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The endpoint template is not a URL once `{region}` is filled in.
    #[error("endpoint template {template:?}: {reason}")]
    Template {
        /// The template.
        template: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// One Enterprise Edition instance from `ListInstance`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// `cri-…`.
    pub instance_id: String,
    /// The name in `<name>-registry.<region>.cr.aliyuncs.com`.
    pub instance_name: String,
    /// Its region.
    pub region: String,
}

/// Signed calls to the ACR OpenAPI.
#[derive(Clone)]
pub struct AcrClient {
    http: reqwest::Client,
    settings: AcrClientSettings,
    credentials: SharedCredentials,
}

impl std::fmt::Debug for AcrClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcrClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

enum Call<'a> {
    /// RPC style (Enterprise Edition): `POST /?<params>`.
    Rpc {
        action: &'a str,
        params: Vec<(String, String)>,
    },
    /// ROA style (Personal Edition): `GET <path>`.
    Roa { action: &'a str, path: &'a str },
}

impl Call<'_> {
    fn action(&self) -> &str {
        match self {
            Call::Rpc { action, .. } | Call::Roa { action, .. } => action,
        }
    }
}

impl AcrClient {
    /// A client with `settings` that signs with `credentials`.
    pub fn new(
        settings: AcrClientSettings,
        credentials: SharedCredentials,
    ) -> Result<Self, AcrClientError> {
        let check = settings
            .endpoint_template
            .replace("{region}", "cn-hangzhou");
        url::Url::parse(&check).map_err(|e| AcrClientError::Template {
            template: settings.endpoint_template.clone(),
            reason: e.to_string(),
        })?;
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("acr-refresher/", env!("CARGO_PKG_VERSION")));
        let mut extra_roots = Vec::new();
        if let Some(path) = &settings.extra_ca_file {
            let ca_error = |reason: String| AcrClientError::CaFile {
                path: path.clone(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            extra_roots = crate::tls::parse_ca_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
        }
        let tls =
            crate::tls::client_config(extra_roots).map_err(|e| match &settings.extra_ca_file {
                Some(path) => AcrClientError::CaFile {
                    path: path.clone(),
                    reason: e.to_string(),
                },
                None => AcrClientError::Http(e.to_string()),
            })?;
        builder = builder.tls_backend_preconfigured(tls);
        for (host, address) in &settings.resolve {
            builder = builder.resolve(host, *address);
        }
        let http = builder
            .build()
            .map_err(|e| AcrClientError::Http(e.to_string()))?;
        Ok(Self {
            http,
            settings,
            credentials,
        })
    }

    /// The endpoint URL for `region`.
    pub fn endpoint(&self, region: &str) -> String {
        self.settings.endpoint_template.replace("{region}", region)
    }

    /// Temporary registry credentials for `key` (`GetAuthorizationToken` of its edition).
    pub async fn get_authorization_token(&self, key: &TokenKey) -> Result<RegistryToken, AcrError> {
        let endpoint = self.endpoint(&key.region);
        match (key.edition, &key.instance_id) {
            (Edition::Enterprise, Some(instance_id)) => {
                let params = vec![("InstanceId".to_owned(), instance_id.clone())];
                let call = Call::Rpc {
                    action: "GetAuthorizationToken",
                    params,
                };
                let body = self.call(&key.region, &call).await?;
                parse_enterprise_token(&body)
                    .map_err(|reason| malformed("GetAuthorizationToken", &endpoint, reason))
            }
            (Edition::Enterprise, None) => Err(malformed(
                "GetAuthorizationToken",
                &endpoint,
                "an Enterprise Edition token needs an instance id".into(),
            )),
            (Edition::Personal, _) => {
                let call = Call::Roa {
                    action: "GetAuthorizationToken",
                    path: "/tokens",
                };
                let body = self.call(&key.region, &call).await?;
                parse_personal_token(&body)
                    .map_err(|reason| malformed("GetAuthorizationToken", &endpoint, reason))
            }
        }
    }

    /// The registry domains of an Enterprise Edition instance (`ListInstanceEndpoint`, module Registry).
    pub async fn list_instance_domains(
        &self,
        region: &str,
        instance_id: &str,
    ) -> Result<Vec<String>, AcrError> {
        let params = vec![
            ("InstanceId".to_owned(), instance_id.to_owned()),
            ("ModuleName".to_owned(), "Registry".to_owned()),
        ];
        let body = self
            .call(
                region,
                &Call::Rpc {
                    action: "ListInstanceEndpoint",
                    params,
                },
            )
            .await?;
        let domains = parse_endpoint_domains(&body)
            .map_err(|r| malformed("ListInstanceEndpoint", &self.endpoint(region), r))?;
        if domains.is_empty() {
            return Err(AcrError::NoDomains {
                instance_id: instance_id.to_owned(),
                region: region.to_owned(),
            });
        }
        Ok(domains)
    }

    /// Every Enterprise Edition instance in `region` (`ListInstance`, all pages).
    pub async fn list_instances(&self, region: &str) -> Result<Vec<Instance>, AcrError> {
        let mut instances = Vec::new();
        for page in 1..=100u32 {
            let params = vec![
                ("PageNo".to_owned(), page.to_string()),
                ("PageSize".to_owned(), "50".to_owned()),
            ];
            let body = self
                .call(
                    region,
                    &Call::Rpc {
                        action: "ListInstance",
                        params,
                    },
                )
                .await?;
            let (batch, total) = parse_instances(&body, region)
                .map_err(|r| malformed("ListInstance", &self.endpoint(region), r))?;
            let done = batch.is_empty() || instances.len() + batch.len() >= total;
            instances.extend(batch);
            if done {
                break;
            }
        }
        Ok(instances)
    }

    /// Sends `call` with retries; returns the parsed JSON body of a 2xx answer.
    async fn call(&self, region: &str, call: &Call<'_>) -> Result<Value, AcrError> {
        let endpoint = self.endpoint(region);
        let policy = self.retry_policy();
        let mut refreshed_credentials = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let credentials = self.credentials.credentials().await?;
            let outcome = self.send_once(region, &endpoint, call, &credentials).await;
            let error = match outcome {
                Ok(body) => return Ok(body),
                Err(Failure { error, retry_after }) => {
                    // Expired or rotated STS credentials: fetch new ones and retry once, at once.
                    if is_credentials_rejection(&error) && !refreshed_credentials {
                        refreshed_credentials = true;
                        self.credentials.invalidate();
                        attempt -= 1;
                        continue;
                    }
                    if !policy.retries_after(attempt) || !is_retryable(&error) {
                        return Err(error);
                    }
                    let delay = backoff(&policy, attempt, retry_after);
                    tracing::debug!(%error, attempt, ?delay, "retrying ACR call");
                    tokio::time::sleep(delay).await;
                    error
                }
            };
            drop(error);
        }
    }

    /// Doubling from `retry_base` to `retry_max`, `attempts` tries.
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::doubling(self.settings.retry_base, self.settings.retry_max)
            .with_max_tries(self.settings.attempts)
    }

    async fn send_once(
        &self,
        region: &str,
        endpoint: &str,
        call: &Call<'_>,
        credentials: &Credentials,
    ) -> Result<Value, Failure> {
        let action = call.action().to_owned();
        let url = url::Url::parse(endpoint).map_err(|e| {
            Failure::from(malformed(
                &action,
                endpoint,
                format!("bad endpoint URL: {e}"),
            ))
        })?;
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => {
                return Err(malformed(&action, endpoint, "endpoint URL has no host".into()).into());
            }
        };
        let base = endpoint.trim_end_matches('/');
        let now = jiff::Timestamp::now();
        let nonce = uuid_like_nonce();
        let request = match (call, self.settings.signature) {
            (Call::Rpc { action, params }, SignatureVersion::V1) => {
                let mut query = params.clone();
                query.push(("Action".into(), (*action).into()));
                query.push(("Version".into(), EE_API_VERSION.into()));
                query.push(("RegionId".into(), region.into()));
                rpc_v1::sign_query(&mut query, "POST", credentials, now, &nonce);
                let target = format!("{base}/?{}", acs_wire::sign::encode::query_string(&query));
                self.http.post(target)
            }
            (Call::Rpc { action, params }, SignatureVersion::V3) => {
                let mut signable = SignableRequest::new("POST", &host, "/");
                signable.query = params.clone();
                signable.set_header("x-acs-action", action);
                signable.set_header("x-acs-version", EE_API_VERSION);
                v3::sign_request(&mut signable, credentials, now, &nonce);
                self.build(base, &signable)
            }
            (Call::Roa { action, path }, version) => {
                let mut signable = SignableRequest::new("GET", &host, path);
                signable.set_header("x-acs-action", action);
                signable.set_header("x-acs-version", PERSONAL_API_VERSION);
                match version {
                    SignatureVersion::V3 => {
                        v3::sign_request(&mut signable, credentials, now, &nonce)
                    }
                    SignatureVersion::V1 => {
                        signable.query.push(("RegionId".into(), region.into()));
                        roa_v1::sign_headers(&mut signable, credentials, now, &nonce)
                    }
                }
                self.build(base, &signable)
            }
        };
        let response = request.send().await.map_err(|e| Failure {
            error: AcrError::Transport {
                action: action.clone(),
                endpoint: endpoint.to_owned(),
                reason: if e.is_timeout() {
                    format!("no answer within {:?}", self.settings.timeout)
                } else {
                    describe(&e)
                },
            },
            retry_after: None,
        })?;
        let status = response.status().as_u16();
        let retry_after = throttling_time_left(response.headers());
        let bytes = response.bytes().await.map_err(|e| Failure {
            error: AcrError::Transport {
                action: action.clone(),
                endpoint: endpoint.to_owned(),
                reason: format!("reading the answer: {}", describe(&e)),
            },
            retry_after: None,
        })?;
        if !(200..300).contains(&status) {
            let error = match PopError::parse(status, &bytes) {
                Ok(pop) => AcrError::Api {
                    action,
                    endpoint: endpoint.to_owned(),
                    status,
                    code: pop.code,
                    message: pop.message,
                    request_id: Some(pop.request_id).filter(|r| !r.is_empty()),
                },
                Err(_) => AcrError::Api {
                    action,
                    endpoint: endpoint.to_owned(),
                    status,
                    code: format!("HTTP{status}"),
                    message: "answer without an error envelope".into(),
                    request_id: None,
                },
            };
            return Err(Failure { error, retry_after });
        }
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Failure::from(malformed(
                &action,
                endpoint,
                format!("answer is not JSON: {e}"),
            ))
        })?;
        // RPC answers may carry a failure in a 200 body (`IsSuccess: false`).
        if body.get("IsSuccess").and_then(Value::as_bool) == Some(false) {
            let code = body
                .get("Code")
                .and_then(Value::as_str)
                .unwrap_or("Unknown")
                .to_owned();
            return Err(Failure::from(AcrError::Api {
                action,
                endpoint: endpoint.to_owned(),
                status,
                message: body
                    .get("Message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                request_id: body
                    .get("RequestId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                code,
            }));
        }
        Ok(body)
    }

    fn build(&self, base: &str, signable: &SignableRequest) -> reqwest::RequestBuilder {
        let method = if signable.method == "GET" {
            reqwest::Method::GET
        } else {
            reqwest::Method::POST
        };
        let mut request = self
            .http
            .request(method, format!("{base}{}", signable.path_and_query()));
        for (name, value) in &signable.headers {
            // reqwest sets Host from the URL, identical to what was signed.
            if !name.eq_ignore_ascii_case("host") {
                request = request.header(name, value);
            }
        }
        request.body(signable.body.clone())
    }
}

struct Failure {
    error: AcrError,
    retry_after: Option<Duration>,
}

impl From<AcrError> for Failure {
    fn from(error: AcrError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

fn malformed(action: &str, endpoint: &str, reason: String) -> AcrError {
    AcrError::Malformed {
        action: action.to_owned(),
        endpoint: endpoint.to_owned(),
        reason,
    }
}

/// The wait after the `attempt`-th failed try; the server's TimeLeft hint is a floor (retrying
/// earlier is refused anyway), capped like every delay.
fn backoff(policy: &RetryPolicy, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let jittered = policy.delay(attempt);
    match retry_after {
        Some(hint) => jittered.max(hint.min(policy.cap)),
        None => jittered,
    }
}

fn is_retryable(error: &AcrError) -> bool {
    match error {
        AcrError::Transport { .. } => true,
        AcrError::Api { status, code, .. } => {
            *status >= 500 || *status == 429 || code.starts_with("Throttling")
        }
        _ => false,
    }
}

fn is_credentials_rejection(error: &AcrError) -> bool {
    matches!(error.code(), Some(code) if code.starts_with("InvalidSecurityToken")
        || code.starts_with("InvalidAccessKeyId"))
}

/// darabonba's `GetThrottlingTimeLeft`: `x-ratelimit-user-api` / `x-ratelimit-user` hold
/// comma-separated `Key:Value` pairs; `TimeLeft` is in milliseconds.
pub fn throttling_time_left(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    ["x-ratelimit-user-api", "x-ratelimit-user"]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|pair| {
            let (key, value) = pair.split_once(':')?;
            (key.trim() == "TimeLeft")
                .then(|| value.trim().parse::<u64>().ok())
                .flatten()
        })
        .max()
        .map(Duration::from_millis)
}

fn uuid_like_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

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

/// 9999-12-31T23:59:59.999Z in Unix milliseconds: the latest expiry a token answer may carry.
const MAX_EXPIRY_MILLIS: i64 = 253_402_300_799_999;

fn millis_field(value: Option<&Value>, name: &str) -> Result<Timestamp, String> {
    let millis = match value {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("{name} is missing or not a millisecond timestamp"))?;
    // Years 1970 to 9999 only: later arithmetic on the expiry (renewal thresholds) stays far
    // from the calendar's limits.
    Timestamp::from_millisecond(millis)
        .ok()
        .filter(|_| (0..=MAX_EXPIRY_MILLIS).contains(&millis))
        .ok_or_else(|| format!("{name} {millis} is out of range (0..={MAX_EXPIRY_MILLIS})"))
}

fn string_field(value: Option<&Value>, name: &str) -> Result<String, String> {
    match value.and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(format!("{name} is missing or empty")),
    }
}

/// Reads an Enterprise Edition `GetAuthorizationToken` answer.
pub fn parse_enterprise_token(body: &Value) -> Result<RegistryToken, String> {
    if let Some(code) = body.get("Code").and_then(Value::as_str)
        && !code.eq_ignore_ascii_case("success")
    {
        return Err(format!("Code is {code:?}, not \"success\""));
    }
    Ok(RegistryToken {
        username: string_field(body.get("TempUsername"), "TempUsername")?,
        password: string_field(body.get("AuthorizationToken"), "AuthorizationToken")?,
        expires_at: millis_field(body.get("ExpireTime"), "ExpireTime")?,
    })
}

/// Reads a Personal Edition `GET /tokens` answer (`{"data":{…}}`).
pub fn parse_personal_token(body: &Value) -> Result<RegistryToken, String> {
    let data = body.get("data").ok_or("data is missing")?;
    Ok(RegistryToken {
        username: string_field(data.get("tempUserName"), "data.tempUserName")?,
        password: string_field(data.get("authorizationToken"), "data.authorizationToken")?,
        expires_at: millis_field(data.get("expireDate"), "data.expireDate")?,
    })
}

/// Reads a `ListInstanceEndpoint` answer: the enabled endpoints' domains, each once.
pub fn parse_endpoint_domains(body: &Value) -> Result<Vec<String>, String> {
    let endpoints = body
        .get("Endpoints")
        .and_then(Value::as_array)
        .ok_or("Endpoints is missing")?;
    let mut domains = Vec::new();
    for endpoint in endpoints {
        if endpoint.get("Enable").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        for domain in endpoint
            .get("Domains")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = domain.get("Domain").and_then(Value::as_str)
                && !name.is_empty()
                && !domains.iter().any(|d| d == name)
            {
                domains.push(name.to_owned());
            }
        }
    }
    Ok(domains)
}

/// Reads one `ListInstance` page: its instances (region defaulting to `region`) and `TotalCount`.
pub fn parse_instances(body: &Value, region: &str) -> Result<(Vec<Instance>, usize), String> {
    let list = body
        .get("Instances")
        .and_then(Value::as_array)
        .ok_or("Instances is missing")?;
    let total = match body.get("TotalCount") {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => list.len(),
    };
    let instances = list
        .iter()
        .map(|i| {
            Ok(Instance {
                instance_id: string_field(i.get("InstanceId"), "Instances[].InstanceId")?,
                instance_name: string_field(i.get("InstanceName"), "Instances[].InstanceName")?,
                region: i
                    .get("RegionId")
                    .and_then(Value::as_str)
                    .unwrap_or(region)
                    .to_owned(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((instances, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enterprise_answer_is_read_with_milliseconds() {
        let token = parse_enterprise_token(&json!({
            "AuthorizationToken": "pw", "TempUsername": "cr_temp_user",
            "ExpireTime": 1571242083000i64, "Code": "success", "IsSuccess": true
        }))
        .unwrap();
        assert_eq!(token.expires_at.as_second(), 1571242083);
        assert_eq!(token.username, "cr_temp_user");
    }

    #[test]
    fn enterprise_answer_without_code_is_accepted_but_not_without_password() {
        assert!(
            parse_enterprise_token(&json!({
                "AuthorizationToken": "pw", "TempUsername": "u", "ExpireTime": "1571242083000"
            }))
            .is_ok()
        );
        let error =
            parse_enterprise_token(&json!({"TempUsername": "u", "ExpireTime": 1})).unwrap_err();
        assert!(error.contains("AuthorizationToken"), "{error}");
    }

    #[test]
    fn personal_answer_is_read_from_data() {
        let token = parse_personal_token(&json!({"data": {
            "authorizationToken": "pw", "expireDate": 1646219005000i64, "tempUserName": "cr_temp_user"
        }}))
        .unwrap();
        assert_eq!(token.expires_at.as_second(), 1646219005);
        assert!(parse_personal_token(&json!({"data": {"authorizationToken": "pw"}})).is_err());
    }

    #[test]
    fn time_left_hint_is_read_from_either_header() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-ratelimit-user",
            "Limit:10,Remain:0,TimeLeft:1500,Reset:1".parse().unwrap(),
        );
        assert_eq!(
            throttling_time_left(&headers),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            throttling_time_left(&reqwest::header::HeaderMap::new()),
            None
        );
    }

    #[test]
    fn domains_come_from_enabled_endpoints() {
        let domains = parse_endpoint_domains(&json!({"Endpoints": [
            {"Enable": true, "EndpointType": "internet", "Domains": [{"Domain": "a-registry.cn-hangzhou.cr.aliyuncs.com", "Type": "SYSTEM"}]},
            {"Enable": false, "EndpointType": "vpc", "Domains": [{"Domain": "off.example"}]},
            {"EndpointType": "vpc", "Domains": [{"Domain": "a-registry-vpc.cn-hangzhou.cr.aliyuncs.com"}]}
        ]}))
        .unwrap();
        assert_eq!(
            domains,
            [
                "a-registry.cn-hangzhou.cr.aliyuncs.com",
                "a-registry-vpc.cn-hangzhou.cr.aliyuncs.com"
            ]
        );
    }
}
