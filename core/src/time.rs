//! UTC timestamps in RFC 3339 (records, tags, the Vault stand-in) without a date library.

use std::time::{SystemTime, UNIX_EPOCH};

/// Digits of the fraction of a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `2026-03-01T12:00:00Z`
    Seconds,
    /// `2026-03-01T12:00:00.123Z`: sorts as text like the time it names.
    Millis,
    /// `2026-03-01T12:00:00.123456789Z`: as Vault prints times.
    Nanos,
}

/// RFC 3339 UTC of `t` (times before 1970 print as the epoch).
pub fn rfc3339(t: SystemTime, precision: Precision) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let fraction = match precision {
        Precision::Seconds => String::new(),
        Precision::Millis => format!(".{:03}", d.subsec_millis()),
        Precision::Nanos => format!(".{:09}", d.subsec_nanos()),
    };
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 -> (year, month, day) (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_dates_and_fractions() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let t = UNIX_EPOCH + Duration::new(1_772_366_400, 123_456_789); // 2026-03-01T12:00:00
        assert_eq!(rfc3339(t, Precision::Seconds), "2026-03-01T12:00:00Z");
        assert_eq!(rfc3339(t, Precision::Millis), "2026-03-01T12:00:00.123Z");
        assert_eq!(
            rfc3339(t, Precision::Nanos),
            "2026-03-01T12:00:00.123456789Z"
        );
    }
}
