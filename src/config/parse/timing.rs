//! When tokens are refreshed: `expiring-threshold`.

use super::context::Parser;
use crate::config::error::ConfigErrorKind as Kind;
use crate::config::keys;
use crate::duration;

/// The ACR token lifetime; a threshold at least this long refreshes on every cycle.
const TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3600);

impl Parser {
    pub(super) fn expiring_threshold(&mut self, value: &str) -> Option<std::time::Duration> {
        let key = keys::EXPIRING_THRESHOLD;
        let v = value.trim();
        if v.is_empty() {
            self.error(key, Kind::Empty { default: "15m" });
            return None;
        }
        match duration::parse(v) {
            Err(reason) => {
                self.error(
                    key,
                    Kind::NotADuration {
                        value: v.to_owned(),
                        reason,
                    },
                );
                None
            }
            Ok(d) if d.is_zero() => {
                self.error(
                    key,
                    Kind::NotPositive {
                        value: v.to_owned(),
                    },
                );
                None
            }
            Ok(d) => {
                if d >= TOKEN_LIFETIME {
                    self.warn(
                        key,
                        None,
                        format!("'{v}' is not shorter than the 1h ACR token lifetime: every token is due for refresh as soon as it is issued"),
                    );
                }
                Some(d)
            }
        }
    }
}
