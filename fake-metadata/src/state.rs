//! The fake's mutable state: offset clock, current and previous STS credentials, hardened-mode
//! tokens, fault rules and the request log.

use std::collections::VecDeque;

use acs_wire::sts::{self, StsClaims, StsCredentials};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::faults::{FaultRule, InstalledFault};
use crate::settings::{HardenedMode, MAX_CLOCK_OFFSET_SECONDS, Settings, SettingsError};

/// Longest token TTL the real server accepts (docs/wire.md).
pub const MAX_TOKEN_TTL_SECONDS: i64 = 21_600;

/// What a request's `X-aliyun-ecs-metadata-token` header amounted to (never the value itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenUse {
    /// No token header.
    None,
    /// A token this server issued and that has not expired.
    Valid,
    /// An unknown, tampered or expired token.
    Invalid,
}

impl TokenUse {
    /// `none`, `valid` or `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Valid => "valid",
            Self::Invalid => "invalid",
        }
    }
}

/// One entry of the request log (`GET /requests`). fake-acr's `LogEntry` is another shape on
/// purpose: it records OpenAPI actions, principals and results, this one paths and tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// When the request arrived, by the fake's (offset) clock.
    pub time: Timestamp,
    /// HTTP method.
    pub method: String,
    /// Request path (absolute-form targets are reduced to their path).
    pub path: String,
    /// The metadata token the request carried: none, valid or invalid.
    pub token: TokenUse,
    /// Status sent; none when the connection was dropped.
    pub status: Option<u16>,
    /// Faults that fired for this request.
    pub faults: Vec<String>,
}

/// Credentials as issued, with their claims.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The claims inside the SecurityToken.
    pub claims: StsClaims,
    /// The credentials handed out.
    pub credentials: StsCredentials,
}

/// Non-secret description of a set of credentials, for the admin API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsSummary {
    /// The AccessKeyId (not secret).
    pub access_key_id: String,
    /// Issue counter.
    pub serial: u64,
    /// `LastUpdated`.
    pub last_updated: Timestamp,
    /// `Expiration`.
    pub expiration: Timestamp,
}

impl From<&Issued> for CredentialsSummary {
    fn from(issued: &Issued) -> Self {
        Self {
            access_key_id: issued.credentials.access_key_id.clone(),
            serial: issued.claims.serial,
            last_updated: issued.credentials.last_updated,
            expiration: issued.credentials.expiration,
        }
    }
}

/// The fake's current state as the admin API reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// Now, by the fake's clock.
    pub now: Timestamp,
    /// Seconds added to the system clock.
    pub clock_offset_seconds: i64,
    /// Hardened mode.
    pub hardened: HardenedMode,
    /// Attached role, if any.
    pub role: Option<String>,
    /// Region id served.
    pub region_id: String,
    /// Credentials served now (none before the first request or rotation).
    pub current: Option<CredentialsSummary>,
    /// The credentials served before the last rotation (still valid until their expiry).
    pub previous: Option<CredentialsSummary>,
    /// Installed fault rules.
    pub faults: Vec<InstalledFault>,
    /// Requests in the log.
    pub requests_logged: usize,
    /// Scheduled spot termination time, if any.
    pub spot_termination_time: Option<String>,
}

/// Everything that changes while the fake runs.
pub struct State {
    /// Settings in force (hardened mode, role and spot time can change at run time).
    pub settings: Settings,
    /// Settings at start-up (or as last replaced), restored by reset.
    startup: Settings,
    clock_offset: SignedDuration,
    serial: u64,
    current: Option<Issued>,
    previous: Option<Issued>,
    faults: Vec<InstalledFault>,
    next_fault_id: u64,
    log: VecDeque<RequestRecord>,
    /// Key of the hardened-mode tokens; random per start so tokens of other runs are unknown.
    token_key: [u8; 32],
}

impl State {
    /// Fresh state for these settings, with their start-up fault rules.
    pub fn new(settings: Settings) -> Self {
        let mut state = Self {
            clock_offset: SignedDuration::ZERO,
            serial: 0,
            current: None,
            previous: None,
            faults: Vec::new(),
            next_fault_id: 1,
            log: VecDeque::new(),
            token_key: rand::random(),
            startup: settings.clone(),
            settings,
        };
        for rule in state.settings.faults.clone() {
            state.add_fault(rule);
        }
        state
    }

    /// Now, by the fake's clock (system clock + offset; checked: the offset is bounded when
    /// set, and an impossible sum stays at the system clock rather than panicking).
    pub fn now(&self) -> Timestamp {
        let wall = Timestamp::now();
        wall.checked_add(self.clock_offset).unwrap_or(wall)
    }

    /// Sets the clock offset, within ±[`MAX_CLOCK_OFFSET_SECONDS`]; otherwise refused (field
    /// `offset_seconds`) and the offset unchanged.
    pub fn set_clock_offset(&mut self, offset: SignedDuration) -> Result<(), SettingsError> {
        let secs = offset.as_secs();
        if secs.unsigned_abs() > MAX_CLOCK_OFFSET_SECONDS.unsigned_abs() {
            return Err(SettingsError::Invalid {
                field: "offset_seconds".into(),
                reason: format!(
                    "{secs} is not accepted: -{MAX_CLOCK_OFFSET_SECONDS}..={MAX_CLOCK_OFFSET_SECONDS} (±100 years)"
                ),
            });
        }
        self.clock_offset = offset;
        Ok(())
    }

    /// The clock offset.
    pub fn clock_offset(&self) -> SignedDuration {
        self.clock_offset
    }

    fn lifetime(&self) -> SignedDuration {
        SignedDuration::try_from(self.settings.credential_lifetime)
            .unwrap_or(SignedDuration::from_hours(6))
    }

    fn lead_time(&self) -> SignedDuration {
        SignedDuration::try_from(self.settings.rotation_lead_time).unwrap_or(SignedDuration::ZERO)
    }

    fn issue(&mut self, role: &str, issued_at: Timestamp, expires_at: Timestamp) -> Issued {
        self.serial += 1;
        let claims = StsClaims {
            account_id: self.settings.account_id.clone(),
            role: role.to_owned(),
            issued_at: issued_at.as_second(),
            expires_at: expires_at.as_second(),
            serial: self.serial,
        };
        let credentials = sts::issue(&self.settings.account_secret.0, &claims);
        Issued {
            claims,
            credentials,
        }
    }

    /// The credentials to serve for `role` now, issuing new ones when the current ones are
    /// within the lead time of their expiry (or were issued for another role).
    pub fn credentials(&mut self, role: &str) -> Issued {
        let now = self.now();
        let due = match &self.current {
            None => true,
            Some(current) => {
                current.claims.role != role
                    || current
                        .credentials
                        .expiration
                        .checked_sub(self.lead_time())
                        .ok()
                        .is_none_or(|due| now >= due)
                    // A clock moved backwards past the issue time: issue anew so LastUpdated ≤ now.
                    || now < current.credentials.last_updated
            }
        };
        if due {
            self.rotate_for(role, now);
        }
        self.current
            .clone()
            .expect("invariant: credentials were just issued")
    }

    fn rotate_for(&mut self, role: &str, now: Timestamp) -> Issued {
        let expires_at = now.checked_add(self.lifetime()).unwrap_or(Timestamp::MAX);
        let issued = self.issue(role, now, expires_at);
        self.previous = self.current.replace(issued.clone());
        issued
    }

    /// Issues new credentials now, whatever the lead time says; the old ones stay valid.
    pub fn rotate(&mut self) -> Option<CredentialsSummary> {
        let role = self.settings.role.clone()?;
        let now = self.now();
        Some(CredentialsSummary::from(&self.rotate_for(&role, now)))
    }

    /// Credentials that expired a minute ago (signed like any others), for the fault.
    pub fn expired_credentials(&mut self, role: &str) -> Issued {
        let now = self.now();
        let expires_at = now
            .checked_sub(SignedDuration::from_secs(60))
            .unwrap_or(now);
        let issued_at = expires_at
            .checked_sub(self.lifetime())
            .unwrap_or(expires_at);
        self.issue(role, issued_at, expires_at)
    }

    fn token_mac(&self, body: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.token_key)
            .expect("invariant: HMAC-SHA256 accepts keys of any length");
        mac.update(body.as_bytes());
        mac
    }

    /// A hardened-mode token valid for `ttl_seconds` by the fake's clock.
    pub fn issue_token(&self, ttl_seconds: i64) -> String {
        let nonce: u64 = rand::random();
        let body = URL_SAFE_NO_PAD.encode(format!(
            "{}:{nonce:016x}",
            self.now().as_second().saturating_add(ttl_seconds)
        ));
        let mac = URL_SAFE_NO_PAD.encode(self.token_mac(&body).finalize().into_bytes());
        format!("{body}.{mac}")
    }

    /// Whether `token` (if any) is one this server issued and still valid.
    pub fn check_token(&self, token: Option<&str>) -> TokenUse {
        let Some(token) = token else {
            return TokenUse::None;
        };
        let Some((body, mac)) = token.trim().split_once('.') else {
            return TokenUse::Invalid;
        };
        let Ok(mac) = URL_SAFE_NO_PAD.decode(mac) else {
            return TokenUse::Invalid;
        };
        if self.token_mac(body).verify_slice(&mac).is_err() {
            return TokenUse::Invalid;
        }
        let expiry = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').and_then(|(e, _)| e.parse::<i64>().ok()));
        match expiry {
            Some(expiry) if self.now().as_second() < expiry => TokenUse::Valid,
            _ => TokenUse::Invalid,
        }
    }

    /// Installs a fault rule and returns its id.
    pub fn add_fault(&mut self, rule: FaultRule) -> u64 {
        let id = self.next_fault_id;
        self.next_fault_id += 1;
        self.faults.push(InstalledFault { id, rule, fired: 0 });
        id
    }

    /// Removes every fault rule.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Removes one fault rule; false if no such id.
    pub fn remove_fault(&mut self, id: u64) -> bool {
        let before = self.faults.len();
        self.faults.retain(|f| f.id != id);
        self.faults.len() != before
    }

    /// The installed fault rules (mutable for planning).
    pub fn faults_mut(&mut self) -> &mut Vec<InstalledFault> {
        &mut self.faults
    }

    /// Appends to the request log, dropping the oldest entry when full.
    pub fn log_request(&mut self, record: RequestRecord) {
        if self.settings.request_log_capacity == 0 {
            return;
        }
        while self.log.len() >= self.settings.request_log_capacity {
            self.log.pop_front();
        }
        self.log.push_back(record);
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.iter().cloned().collect()
    }

    /// Clears the request log.
    pub fn clear_requests(&mut self) {
        self.log.clear();
    }

    /// Back to the start-up state: start-up settings and faults, no offset, empty log, new
    /// credentials on the next request, new token key (serials and fault ids keep counting so
    /// nothing is ever re-issued).
    pub fn reset(&mut self) {
        let startup = self.startup.clone();
        self.replace(startup);
    }

    /// Makes `settings` the start-up settings and resets to them, as if freshly started.
    pub fn replace(&mut self, settings: Settings) {
        let serial = self.serial;
        let next_fault_id = self.next_fault_id;
        *self = Self::new(settings);
        self.serial = serial;
        self.next_fault_id = next_fault_id.max(self.next_fault_id);
    }

    /// What the admin API reports as the current state.
    pub fn snapshot(&self) -> StateSnapshot {
        StateSnapshot {
            now: self.now(),
            clock_offset_seconds: self.clock_offset.as_secs(),
            hardened: self.settings.hardened,
            role: self.settings.role.clone(),
            region_id: self.settings.instance.region_id.clone(),
            current: self.current.as_ref().map(CredentialsSummary::from),
            previous: self.previous.as_ref().map(CredentialsSummary::from),
            faults: self.faults.clone(),
            requests_logged: self.log.len(),
            spot_termination_time: self.settings.instance.spot_termination_time.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_happens_at_lead_time_and_old_credentials_stay_valid() {
        let mut state = State::new(Settings::default());
        let first = state.credentials("r");
        assert_eq!(state.credentials("r").claims.serial, first.claims.serial);
        // Jump to just before the lead time: same credentials.
        state
            .set_clock_offset(SignedDuration::from_secs(6 * 3600 - 30 * 60 - 5))
            .unwrap();
        assert_eq!(state.credentials("r").claims.serial, first.claims.serial);
        state
            .set_clock_offset(SignedDuration::from_secs(6 * 3600 - 30 * 60 + 1))
            .unwrap();
        let second = state.credentials("r");
        assert_ne!(second.claims.serial, first.claims.serial);
        assert!(second.credentials.expiration > first.credentials.expiration);
        // The old ones still validate (expiry is the caller's business).
        let (claims, _) = sts::validate(
            acs_wire::sts::DEFAULT_ACCOUNT_SECRET,
            &first.credentials.access_key_id,
            &first.credentials.security_token,
        )
        .unwrap();
        assert_eq!(claims.serial, first.claims.serial);
        assert_eq!(
            state.snapshot().previous.unwrap().serial,
            first.claims.serial
        );
    }

    #[test]
    fn tokens_expire_by_the_offset_clock_and_reject_forgeries() {
        let mut state = State::new(Settings::default());
        let token = state.issue_token(60);
        assert_eq!(state.check_token(Some(&token)), TokenUse::Valid);
        assert_eq!(state.check_token(None), TokenUse::None);
        assert_eq!(state.check_token(Some("abc")), TokenUse::Invalid);
        let other = State::new(Settings::default()).issue_token(60);
        assert_eq!(state.check_token(Some(&other)), TokenUse::Invalid);
        state
            .set_clock_offset(SignedDuration::from_secs(61))
            .unwrap();
        assert_eq!(state.check_token(Some(&token)), TokenUse::Invalid);
    }

    #[test]
    fn request_log_is_bounded() {
        let settings = Settings {
            request_log_capacity: 2,
            ..Settings::default()
        };
        let mut state = State::new(settings);
        for i in 0..3 {
            state.log_request(RequestRecord {
                time: state.now(),
                method: "GET".into(),
                path: format!("/{i}"),
                token: TokenUse::None,
                status: Some(200),
                faults: vec![],
            });
        }
        let paths: Vec<_> = state.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, vec!["/1", "/2"]);
    }
}
