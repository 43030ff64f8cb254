//! Time as hookhost writes and reads it: RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (audit
//! records, state files, messages), formatted and parsed by the `humantime` crate, never by hand.
//!
//! Promises: never panics, whatever the clock or the input (humantime's formatter panics before
//! 1970 and fails past 9999: times are clamped to that range first); the output is byte for
//! byte the form audit records have always had (microseconds, six digits, `Z`). A leaf: imports
//! nothing of ours.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last second humantime can write (9999-12-31T23:59:59Z).
const MAX_SECS: i64 = 253_402_300_799;

/// The current time as RFC 3339 UTC with microseconds.
pub fn now_rfc3339() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format_rfc3339(i64::try_from(now.as_secs()).unwrap_or(MAX_SECS), Some(now.subsec_micros()))
}

/// `secs` since the Unix epoch as RFC 3339 UTC, with `micros` as a six-digit fraction when given.
/// Clamped to 1970-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z.
pub fn format_rfc3339(secs: i64, micros: Option<u32>) -> String {
    let secs = secs.clamp(0, MAX_SECS) as u64;
    match micros {
        Some(u) => {
            let t = UNIX_EPOCH + Duration::new(secs, u.min(999_999) * 1000);
            humantime::format_rfc3339_micros(t).to_string()
        }
        None => humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string(),
    }
}

/// Unix seconds (with the fraction) of an RFC 3339 UTC time as [`format_rfc3339`] writes it:
/// `Z` (or `+00:00`), an optional fraction of 1 to 9 digits; `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    // humantime reads a `.` with no digits as no fraction; RFC 3339 wants at least one digit.
    if s.contains(".Z") || s.contains(".+") {
        return None;
    }
    humantime::parse_rfc3339(s).ok()?.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formatter hookhost had before (Howard Hinnant's civil-from-days), kept here as the
    /// oracle for byte-identical output.
    fn old_format(secs: i64, micros: Option<u32>) -> String {
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let frac = micros.map(|u| format!(".{u:06}")).unwrap_or_default();
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z", rem / 3600, rem % 3600 / 60, rem % 60)
    }

    #[test]
    fn byte_identical_to_the_old_formatter_and_parses_back() {
        let mut secs: Vec<i64> = vec![0, 1, 59, 86_399, 86_400, 951_782_400, 1_700_000_000, 4_102_444_800, MAX_SECS];
        // Leap days, year and century boundaries, and a spread over the whole range.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            secs.push((x % (MAX_SECS as u64 + 1)) as i64);
        }
        for y in [1972i64, 2000, 2100, 2400] {
            let feb29 = (y - 1970) * 365 * 86_400; // rough; neighbours below cover the day
            for d in -400..400 {
                secs.push((feb29 + d * 86_400).clamp(0, MAX_SECS));
            }
        }
        for (i, &s) in secs.iter().enumerate() {
            let micros = [None, Some(0), Some(123_456), Some(999_999)][i % 4];
            let new = format_rfc3339(s, micros);
            assert_eq!(new, old_format(s, micros), "secs {s}");
            let back = parse_rfc3339(&new).unwrap_or_else(|| panic!("{new} parses"));
            let want = s as f64 + f64::from(micros.unwrap_or(0)) / 1e6;
            assert!((back - want).abs() < 1e-6, "{new}: {back} vs {want}");
        }
    }

    #[test]
    fn out_of_range_is_clamped_never_a_panic() {
        assert_eq!(format_rfc3339(-1, None), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(i64::MIN, Some(5)), "1970-01-01T00:00:00.000005Z");
        assert_eq!(format_rfc3339(i64::MAX, None), "9999-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(0, Some(5_000_000)), "1970-01-01T00:00:00.999999Z");
        let now = now_rfc3339();
        assert_eq!(now.len(), "2026-01-01T00:00:00.000000Z".len(), "{now}");
        assert!(parse_rfc3339(&now).is_some());
    }

    #[test]
    fn parse_rejects_what_is_not_rfc3339_utc() {
        for bad in [
            "",
            "2026-01-01",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1x2Z",
            "2026-01-01T00:00:00+01:00",
            "x026-01-01T00:00:00Z",
            "2026-01-01T00:00:00Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1.5));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01+00:00"), Some(1.0));
    }
}
