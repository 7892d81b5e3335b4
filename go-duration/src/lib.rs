//! go-duration: Go's `time.Duration` text — `ParseDuration` and `Duration.String` — byte for byte.
//!
//! Named for what it is: the one duration grammar of the workspace. The refresher's
//! `expiring-threshold` is written by users of a Go program and the fakes' lifetimes by the same
//! people, so `15m`, `1h30m`, `90s`, `1.5h`, `500ms` and `+15m` must mean exactly what Go's
//! `time.ParseDuration` makes of them, and what we print must be what Go prints (`15m0s`), so
//! that messages read the same as the official helper's. No dependencies beyond `thiserror`, so
//! every crate (the refresher, the fakes, the conformance suite) can use it.
//!
//! - [`parse`]: a non-negative [`Duration`] (what lifetimes and thresholds are).
//! - [`parse_nanos`]: Go's signed `int64` nanoseconds, the whole grammar including negatives.
//! - [`format`]: Go's `Duration.String`.

use std::time::Duration;

/// Why a text is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not of the form `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or larger than Go's ~292 years.
    #[error("'{0}' is not a Go duration")]
    Invalid(String),
    /// A number without a unit, such as `15` (only `0` may go without one).
    #[error("'{0}' has a number without a unit (ns, us, ms, s, m, h)")]
    MissingUnit(String),
    /// A unit Go does not know, such as `15min` or `1d`.
    #[error("'{input}' has unknown unit '{unit}' (known: ns, us, µs, ms, s, m, h)")]
    UnknownUnit {
        /// The whole text.
        input: String,
        /// The unit as written.
        unit: String,
    },
    /// Go accepts negative durations; a threshold or lifetime cannot be negative.
    #[error("'{0}' is negative")]
    Negative(String),
}

impl DurationError {
    /// The reason without the input text, for messages that already quote it.
    pub fn detail(&self) -> String {
        match self {
            Self::Invalid(_) => "not of the form 1h30m, 15m, 90s or 1.5h".to_owned(),
            Self::MissingUnit(_) => "a number without a unit (ns, us, ms, s, m, h)".to_owned(),
            Self::UnknownUnit { unit, .. } => {
                format!("unknown unit '{unit}'; known: ns, us, µs, ms, s, m, h")
            }
            Self::Negative(_) => "negative".to_owned(),
        }
    }
}

const NANOSECOND: u64 = 1;
const MICROSECOND: u64 = 1_000 * NANOSECOND;
const MILLISECOND: u64 = 1_000 * MICROSECOND;
const SECOND: u64 = 1_000 * MILLISECOND;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const OVERFLOW: u64 = 1 << 63;

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => NANOSECOND,
        // Go accepts the ASCII form, U+00B5 (micro sign) and U+03BC (Greek mu).
        "us" | "\u{b5}s" | "\u{3bc}s" => MICROSECOND,
        "ms" => MILLISECOND,
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        _ => return None,
    })
}

/// Parses a Go duration (`time.ParseDuration`) into a non-negative [`Duration`].
///
/// Negative values, which Go allows, are refused with [`DurationError::Negative`] (except `-0`).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let (negative, magnitude) = parse_magnitude(text)?;
    if negative && magnitude != 0 {
        return Err(DurationError::Negative(text.to_owned()));
    }
    Ok(Duration::from_nanos(magnitude))
}

/// Parses a Go duration exactly as `time.ParseDuration` does: signed nanoseconds, `i64` range.
pub fn parse_nanos(text: &str) -> Result<i64, DurationError> {
    let (negative, magnitude) = parse_magnitude(text)?;
    if negative {
        // The magnitude is at most 2^63 here, so the negation fits (2^63 gives i64::MIN).
        Ok(0i64.wrapping_sub_unsigned(magnitude))
    } else {
        Ok(magnitude as i64)
    }
}

/// The sign and the magnitude in nanoseconds: at most 2^63 when negative, 2^63-1 otherwise.
fn parse_magnitude(text: &str) -> Result<(bool, u64), DurationError> {
    let invalid = || DurationError::Invalid(text.to_owned());
    let mut s = text.as_bytes();
    let mut negative = false;
    if let Some((&c, rest)) = s.split_first()
        && (c == b'-' || c == b'+')
    {
        negative = c == b'-';
        s = rest;
    }
    if s == b"0" {
        return Ok((negative, 0));
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let before = s.len();
        let (mut value, rest) = leading_int(s).ok_or_else(invalid)?;
        s = rest;
        let pre = before != s.len();
        let mut post = false;
        let (mut fraction, mut scale) = (0u64, 1f64);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let before = s.len();
            let (f, sc, rest) = leading_fraction(s);
            (fraction, scale, s) = (f, sc, rest);
            post = before != s.len();
        }
        if !pre && !post {
            return Err(invalid());
        }
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(text.to_owned()));
        }
        // The unit ends at an ASCII byte or the end, and starts after an ASCII digit or '.', so
        // it is whole UTF-8; the lossy conversion never replaces anything here.
        let unit = String::from_utf8_lossy(&s[..unit_len]).into_owned();
        s = &s[unit_len..];
        let Some(unit_ns) = unit_nanos(&unit) else {
            return Err(DurationError::UnknownUnit {
                input: text.to_owned(),
                unit,
            });
        };
        if value > OVERFLOW / unit_ns {
            return Err(invalid());
        }
        value *= unit_ns;
        if fraction > 0 {
            // Go computes the fraction in float64, so do we: results stay identical.
            value += (fraction as f64 * (unit_ns as f64 / scale)) as u64;
            if value > OVERFLOW {
                return Err(invalid());
            }
        }
        total += value;
        if total > OVERFLOW {
            return Err(invalid());
        }
    }
    if !negative && total > OVERFLOW - 1 {
        return Err(invalid());
    }
    Ok((negative, total))
}

/// Consumes `[0-9]*`; `None` on overflow past 2^63, as Go's `leadingInt`.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > OVERFLOW / 10 {
            return None;
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > OVERFLOW {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// Consumes `[0-9]*` after a '.', ignoring digits past u63 precision, as Go's `leadingFraction`.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let (mut x, mut scale, mut overflow) = (0u64, 1f64, false);
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if !overflow {
            if x > (OVERFLOW - 1) / 10 {
                overflow = true;
            } else {
                let y = x * 10 + u64::from(s[i] - b'0');
                if y > OVERFLOW {
                    overflow = true;
                } else {
                    x = y;
                    scale *= 10.0;
                }
            }
        }
        i += 1;
    }
    (x, scale, &s[i..])
}

/// Formats as Go's `Duration.String` does: `15m0s`, `1h30m0s`, `1.5s`, `500ms`, `1µs`, `0s`.
///
/// Durations past Go's range (about 292 years) are formatted with the same algorithm on the
/// full `u64` of nanoseconds, which Go cannot represent, so `parse` refuses them.
pub fn format(duration: Duration) -> String {
    let u = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    if u < SECOND {
        let (prec, unit) = match u {
            0 => return "0s".to_owned(),
            u if u < MICROSECOND => (0, "ns"),
            u if u < MILLISECOND => (3, "\u{b5}s"),
            _ => (6, "ms"),
        };
        let (frac, int) = format_fraction(u, prec);
        return format!("{int}{frac}{unit}");
    }
    let (frac, secs) = format_fraction(u, 9);
    let mut out = String::new();
    let minutes = secs / 60;
    if minutes > 0 {
        let hours = minutes / 60;
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        out.push_str(&format!("{}m", minutes % 60));
    }
    out.push_str(&format!("{}{frac}s", secs % 60));
    out
}

/// Go's `fmtFrac`: the fraction `v / 10^prec` without trailing zeros (and without the point
/// when zero), plus the integer part.
fn format_fraction(v: u64, prec: u32) -> (String, u64) {
    let divisor = 10u64.pow(prec);
    let (int, frac) = (v / divisor, v % divisor);
    if frac == 0 {
        return (String::new(), int);
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    (format!(".{}", digits.trim_end_matches('0')), int)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_what_go_parses() {
        assert_eq!(parse("15m"), Ok(secs(900)));
        assert_eq!(parse("1h30m"), Ok(secs(5400)));
        assert_eq!(parse("90s"), Ok(secs(90)));
        assert_eq!(parse("+15m"), Ok(secs(900)));
        assert_eq!(parse("1.5h"), Ok(secs(5400)));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.s"), Ok(secs(1)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("-0"), Ok(Duration::ZERO));
        assert_eq!(parse("1h1m1s1ms1us1ns"), Ok(Duration::new(3661, 1_001_001)));
        assert_eq!(parse("3\u{b5}s"), Ok(Duration::from_micros(3)));
        assert_eq!(parse("3\u{3bc}s"), Ok(Duration::from_micros(3)));
        assert_eq!(
            parse("9223372036854775807ns"),
            Ok(Duration::from_nanos(i64::MAX as u64))
        );
        // Go: 0.3333333333333333333h (fraction digits past precision are ignored)
        assert_eq!(
            parse("0.3333333333333333333h"),
            Ok(Duration::from_nanos(1_200_000_000_000))
        );
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in [
            "",
            "15",
            "15 minutes",
            "1d",
            "15min",
            ".s",
            "-",
            "+",
            "m",
            "1.2.3s",
            " 15m",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must not parse");
        }
        assert_eq!(parse("15"), Err(DurationError::MissingUnit("15".into())));
        assert_eq!(
            parse("1d"),
            Err(DurationError::UnknownUnit {
                input: "1d".into(),
                unit: "d".into()
            })
        );
        assert_eq!(parse("-15m"), Err(DurationError::Negative("-15m".into())));
        assert!(parse("9223372036854775808ns").is_err());
        assert!(parse("2562048h").is_err());
    }

    /// Go's own table (`time_test.go`, `parseDurationTests`): every valid text and its value.
    #[test]
    fn go_documented_examples() {
        const NS: i64 = 1;
        const US: i64 = 1_000;
        const MS: i64 = 1_000_000;
        const S: i64 = 1_000_000_000;
        const M: i64 = 60 * S;
        const H: i64 = 60 * M;
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600 * MS),
            ("5.s", 5 * S),
            (".5s", 500 * MS),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4 * MS),
            ("1.0040s", S + 4 * MS),
            ("100.00100s", 100 * S + MS),
            ("10ns", 10 * NS),
            ("11us", 11 * US),
            ("12\u{b5}s", 12 * US),
            ("12\u{3bc}s", 12 * US),
            ("13ms", 13 * MS),
            ("14s", 14 * S),
            ("15m", 15 * M),
            ("16h", 16 * H),
            ("3h30m", 3 * H + 30 * M),
            ("10.5s4m", 4 * M + 10 * S + 500 * MS),
            ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
            (
                "1h2m3s4ms5us6ns",
                H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS,
            ),
            ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
            ("52763797000ns", 52763797000 * NS),
            ("0.3333333333333333333h", 20 * M),
            ("9007199254740993ns", (1 << 53) + 1),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-9223372036s854ms775us808ns", i64::MIN),
            ("-2562047h47m16.854775808s", i64::MIN),
            ("0.100000000000000000000h", 6 * M),
            (
                "0.830103483285477580700h",
                49 * M + 48 * S + 372_539_827 * NS,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_nanos(text), Ok(*want), "{text:?}");
        }
    }

    /// Go's error table (`parseDurationErrorTests`), each refused with a message naming the text.
    #[test]
    fn go_documented_errors() {
        for text in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{85}\u{85}",
            "\u{ff}ff",
            "hello \u{ff}ff world",
            "9223372036854775808ns",
            "9223372036854775.808us",
            "9223372036854ms775us808ns",
            "-9223372036854775809ns",
        ] {
            let err = parse_nanos(text).expect_err(text);
            assert!(
                err.to_string().contains(&format!("'{text}'")),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(secs(900)), "15m0s");
        assert_eq!(format(secs(5400)), "1h30m0s");
        assert_eq!(format(secs(90)), "1m30s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(500)), "500ms");
        assert_eq!(format(Duration::from_micros(1)), "1\u{b5}s");
        assert_eq!(format(Duration::from_nanos(1)), "1ns");
        assert_eq!(format(Duration::from_nanos(1_100)), "1.1\u{b5}s");
        assert_eq!(
            format(Duration::from_nanos(i64::MAX as u64)),
            "2562047h47m16.854775807s"
        );
    }
}
