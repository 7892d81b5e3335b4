//! Typed failures of ACR OpenAPI calls.

use jiff::Timestamp;

use crate::credentials::CredentialsError;

/// Why an ACR OpenAPI call failed; never carries a credential.
#[derive(Debug, thiserror::Error)]
pub enum AcrError {
    /// No cloud credentials to sign the call with.
    #[error("cannot sign ACR call: {0}")]
    Credentials(#[from] CredentialsError),
    /// The endpoint could not be reached or the connection broke.
    #[error("ACR {action} at {endpoint}: {reason}")]
    Transport {
        /// The OpenAPI action, e.g. `GetAuthorizationToken`.
        action: String,
        /// The endpoint URL.
        endpoint: String,
        /// What went wrong, from the HTTP client.
        reason: String,
    },
    /// ACR answered with an error envelope.
    #[error("ACR {action} at {endpoint} failed: HTTP {status} {code}: {message}{}", request_id.as_ref().map(|r| format!(" (RequestId {r})")).unwrap_or_default())]
    Api {
        /// The OpenAPI action.
        action: String,
        /// The endpoint URL.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// The Alibaba error code, e.g. `Forbidden.RAM`.
        code: String,
        /// The server's message.
        message: String,
        /// The server's request id, for support tickets.
        request_id: Option<String>,
    },
    /// ACR answered 2xx with a body that is not what the API documents.
    #[error("ACR {action} at {endpoint}: malformed answer: {reason}")]
    Malformed {
        /// The OpenAPI action.
        action: String,
        /// The endpoint URL.
        endpoint: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// The instance's domains could not be found (ListInstanceEndpoint returned none).
    #[error("ACR instance {instance_id} in {region} has no registry domains")]
    NoDomains {
        /// The Enterprise Edition instance.
        instance_id: String,
        /// Its region.
        region: String,
    },
    /// The cache is backing off after failures and made no call.
    #[error("ACR calls are backing off until {retry_at}")]
    Throttled {
        /// When the next call may be made.
        retry_at: Timestamp,
    },
}

impl AcrError {
    /// The Alibaba error code, if ACR sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AcrError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// For `Forbidden.RAM`: the RAM action the role lacks, e.g. `cr:GetAuthorizationToken`.
    pub fn missing_permission(&self) -> Option<String> {
        match self {
            AcrError::Api { code, action, .. } if code.starts_with("Forbidden") => {
                Some(format!("cr:{action}"))
            }
            _ => None,
        }
    }

    /// A short machine-readable reason for Events and metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            AcrError::Credentials(_) => "CredentialsUnavailable",
            AcrError::Transport { .. } => "AcrUnreachable",
            AcrError::Api { code, .. } if code.starts_with("Forbidden") => "AcrForbidden",
            AcrError::Api { .. } => "AcrError",
            AcrError::Malformed { .. } => "AcrMalformedAnswer",
            AcrError::NoDomains { .. } => "AcrNoDomains",
            AcrError::Throttled { .. } => "AcrBackingOff",
        }
    }
}
