//! `acr-refresher kubelet-credential-provider`: a kubelet CredentialProvider exec plugin.
//!
//! Reads one `CredentialProviderRequest` on stdin and writes one `CredentialProviderResponse`
//! (same `apiVersion`, `credentialprovider.kubelet.k8s.io/v1` or the older v1beta1/v1alpha1) on
//! stdout: for an ACR image, `auth` holds a fresh temporary token under the image's registry
//! host, `cacheKeyType: Registry`, and `cacheDuration` = the token's remaining lifetime minus
//! `--expiring-threshold`, so kubelet asks again when the refresher would renew — but never less
//! than `--min-renewal-interval` while the token stays valid that long (kubelet's cache is this
//! plugin's only memory: with a threshold >= the lifetime, a `0s` answer would make kubelet run
//! the plugin, and ACR, for every pull); for any other image an empty `auth` (the plugin has nothing to offer). A request that cannot
//! be read, or a token that cannot be had, is an error on stderr and exit status 1 (kubelet logs
//! it and pulls without this plugin's credentials).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;

use clap::Args;
use jiff::Timestamp;

use super::{FetchBudget, RenewalArgs, acr_domain, fetch_token};
use crate::cloud_args::CloudArgs;
use crate::image_ref::ImageRef;

/// The API version kubelet's current plugins speak.
pub const API_VERSION_V1: &str = "credentialprovider.kubelet.k8s.io/v1";
/// Every API version this plugin answers (the response echoes the request's).
pub const API_VERSIONS: [&str; 3] = [
    API_VERSION_V1,
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
];
/// Exit status: a response was written.
pub const EXIT_OK: u8 = 0;
/// Exit status: no response (the reason is on stderr).
pub const EXIT_FAILED: u8 = 1;

/// Settings of `acr-refresher kubelet-credential-provider`.
#[derive(Debug, Clone, Args)]
pub struct KubeletProviderArgs {
    /// How to reach the metadata server and ACR.
    #[command(flatten)]
    pub cloud: CloudArgs,
    /// kubelet may reuse an answer until the token has `expiring_threshold` of its lifetime left,
    /// and for at least `min_renewal_interval` while the token lasts that long.
    #[command(flatten)]
    pub renewal: RenewalArgs,
}

/// The request kubelet sends (fields this plugin does not use are ignored).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialProviderRequest {
    /// `credentialprovider.kubelet.k8s.io/<version>`.
    #[serde(default)]
    pub api_version: String,
    /// `CredentialProviderRequest`.
    #[serde(default)]
    pub kind: String,
    /// The image being pulled.
    #[serde(default)]
    pub image: String,
}

/// One credential of a response.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuthConfig {
    /// Registry user name.
    pub username: String,
    /// Registry password (secret; only ever written to stdout).
    pub password: String,
}

/// The response kubelet reads.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialProviderResponse {
    /// Echoes the request's.
    pub api_version: String,
    /// `CredentialProviderResponse`.
    pub kind: &'static str,
    /// `Registry`: one answer serves every image of the registry host.
    pub cache_key_type: &'static str,
    /// How long kubelet may reuse the answer (Go duration); absent: kubelet's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_duration: Option<String>,
    /// Registry host → credentials.
    pub auth: BTreeMap<String, AuthConfig>,
}

/// Why a request cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// stdin is not JSON of the expected shape.
    #[error("stdin is not a CredentialProviderRequest: {0}")]
    Json(String),
    /// The apiVersion is not one this plugin speaks.
    #[error("apiVersion {0:?} is not one of {versions}", versions = API_VERSIONS.join(", "))]
    ApiVersion(String),
    /// The kind is wrong.
    #[error("kind {0:?} is not CredentialProviderRequest")]
    Kind(String),
    /// No image.
    #[error("the request names no image")]
    NoImage,
    /// The image is not a reference kubelet could pull.
    #[error("image {image:?}: {reason}")]
    Image {
        /// The image as sent.
        image: String,
        /// Why it does not parse.
        reason: String,
    },
}

/// Reads and checks a request.
pub fn parse_request(text: &str) -> Result<CredentialProviderRequest, RequestError> {
    let request: CredentialProviderRequest = serde_json::from_str(text).map_err(|e| {
        RequestError::Json(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    if !API_VERSIONS.contains(&request.api_version.as_str()) {
        return Err(RequestError::ApiVersion(request.api_version));
    }
    if request.kind != "CredentialProviderRequest" {
        return Err(RequestError::Kind(request.kind));
    }
    if request.image.trim().is_empty() {
        return Err(RequestError::NoImage);
    }
    Ok(request)
}

/// How long kubelet may reuse a token expiring at `expires_at`: its remaining lifetime minus
/// `threshold`, but at least `min_renewal_interval` when the token lasts that long; whole
/// seconds, never negative.
pub fn cache_duration(
    expires_at: Timestamp,
    now: Timestamp,
    threshold: Duration,
    min_renewal_interval: Duration,
) -> Duration {
    let left = std::time::Duration::try_from(expires_at.duration_since(now)).unwrap_or_default();
    let floor = if left >= min_renewal_interval {
        min_renewal_interval
    } else {
        Duration::ZERO
    };
    Duration::from_secs(left.saturating_sub(threshold).max(floor).as_secs())
}

/// Runs the plugin with `input` as stdin; returns the exit status.
pub fn main(
    args: KubeletProviderArgs,
    input: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut text = String::new();
    if let Err(e) = input.read_to_string(&mut text) {
        return fail(err, &format!("cannot read stdin: {e}"));
    }
    let request = match parse_request(&text) {
        Ok(request) => request,
        Err(e) => return fail(err, &e.to_string()),
    };
    let image = request.image.trim();
    let reference = match ImageRef::parse(image) {
        Ok(reference) => reference,
        Err(e) => {
            let e = RequestError::Image {
                image: image.to_owned(),
                reason: e.to_string(),
            };
            return fail(err, &e.to_string());
        }
    };
    let mut response = CredentialProviderResponse {
        api_version: request.api_version.clone(),
        kind: "CredentialProviderResponse",
        cache_key_type: "Registry",
        cache_duration: None,
        auth: BTreeMap::new(),
    };
    // An image with a port is never an ACR registry (they listen on 443 only).
    let domain = match reference.port() {
        None => acr_domain(reference.host()),
        Some(_) => None,
    };
    if let Some(domain) = domain {
        // kubelet keeps no token to fall back on: every fetch has the full budget.
        let token = match fetch_token(&args.cloud, &domain, FetchBudget::Full) {
            Ok((_, token)) => token,
            Err(e) => return fail(err, &format!("image {image:?}: {e}")),
        };
        let ttl = cache_duration(
            token.expires_at,
            Timestamp::now(),
            args.renewal.expiring_threshold,
            args.renewal.min_renewal_interval,
        );
        response.cache_duration = Some(crate::duration::format(ttl));
        response.auth.insert(
            domain.host(),
            AuthConfig {
                username: token.username,
                password: token.password,
            },
        );
    }
    match serde_json::to_string(&response) {
        Ok(json) => {
            let _ = writeln!(out, "{json}");
            EXIT_OK
        }
        Err(e) => fail(err, &e.to_string()),
    }
}

fn fail(err: &mut dyn Write, message: &str) -> u8 {
    let _ = writeln!(err, "acr-refresher kubelet-credential-provider: {message}");
    EXIT_FAILED
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        provider: KubeletProviderArgs,
    }

    fn call(stdin: &str) -> (u8, String, String) {
        let args = Cli::try_parse_from(["x", "--metadata-endpoint", "http://127.0.0.1:9"])
            .unwrap()
            .provider;
        assert_eq!(
            args.renewal.expiring_threshold,
            Duration::from_secs(15 * 60)
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = main(args, &mut stdin.as_bytes(), &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn request(image: &str) -> String {
        serde_json::json!({"apiVersion": API_VERSION_V1, "kind": "CredentialProviderRequest", "image": image})
            .to_string()
    }

    #[test]
    fn cache_duration_is_remaining_lifetime_minus_threshold_never_negative() {
        let now = Timestamp::now();
        let at = |s| now + jiff::SignedDuration::from_millis(s);
        let t = Duration::from_secs(8);
        let no_floor = Duration::ZERO;
        assert_eq!(
            cache_duration(at(20_500), now, t, no_floor),
            Duration::from_secs(12)
        );
        assert_eq!(cache_duration(at(5_000), now, t, no_floor), Duration::ZERO);
        assert_eq!(cache_duration(at(-5_000), now, t, no_floor), Duration::ZERO);
        assert_eq!(
            cache_duration(at(3_600_000), now, Duration::from_secs(900), no_floor),
            Duration::from_secs(2700)
        );
    }

    #[test]
    fn cache_duration_is_never_below_the_renewal_floor_while_the_token_lasts_that_long() {
        let now = Timestamp::now();
        let at = |s| now + jiff::SignedDuration::from_millis(s);
        let (t, floor) = (Duration::from_secs(30), Duration::from_secs(10));
        // Threshold >= lifetime: the floor, not 0s (kubelet would run the plugin on every pull).
        assert_eq!(cache_duration(at(20_000), now, t, floor), floor);
        assert_eq!(cache_duration(at(10_000), now, t, floor), floor);
        // A token that does not last the floor is not cached past its threshold.
        assert_eq!(cache_duration(at(9_000), now, t, floor), Duration::ZERO);
        assert_eq!(
            cache_duration(at(9_000), now, Duration::from_secs(4), floor),
            Duration::from_secs(5)
        );
        // Outside the threshold the floor changes nothing.
        assert_eq!(
            cache_duration(at(3_600_000), now, Duration::from_secs(900), floor),
            Duration::from_secs(2700)
        );
    }

    #[test]
    fn requests_are_checked() {
        assert!(parse_request(&request("nginx")).is_ok());
        let older = r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","kind":"CredentialProviderRequest","image":"x","serviceAccountToken":"t"}"#;
        assert!(parse_request(older).is_ok());
        assert!(matches!(parse_request("{"), Err(RequestError::Json(_))));
        assert!(matches!(
            parse_request(r#"{"apiVersion":"v1","kind":"CredentialProviderRequest","image":"x"}"#),
            Err(RequestError::ApiVersion(_))
        ));
        assert!(matches!(
            parse_request(&request("x").replace("CredentialProviderRequest", "Pod")),
            Err(RequestError::Kind(_))
        ));
        assert!(matches!(
            parse_request(&request(" ")),
            Err(RequestError::NoImage)
        ));
    }

    #[test]
    fn other_images_get_an_empty_auth_map_without_any_call() {
        for image in [
            "nginx:1.27",
            "quay.io/a/b",
            "registry.cn-hangzhou.aliyuncs.com:5000/demo/app",
        ] {
            let (code, out, err) = call(&request(image));
            assert_eq!(code, EXIT_OK, "{image}: {err}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["kind"], "CredentialProviderResponse");
            assert_eq!(v["apiVersion"], API_VERSION_V1);
            assert_eq!(v["cacheKeyType"], "Registry");
            assert_eq!(v["auth"], serde_json::json!({}));
        }
    }

    #[test]
    fn bad_input_is_an_error_on_stderr() {
        let (code, out, err) = call("not json");
        assert_eq!(code, EXIT_FAILED);
        assert!(out.is_empty());
        assert!(
            err.contains("stdin is not a CredentialProviderRequest"),
            "{err}"
        );
        let (code, _, err) = call(&request("Registry.cn-hangzhou.aliyuncs.com/Demo/App"));
        assert_eq!(code, EXIT_FAILED);
        assert!(
            err.contains("Registry.cn-hangzhou.aliyuncs.com/Demo/App"),
            "{err}"
        );
    }
}
