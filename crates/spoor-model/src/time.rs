/// Nanoseconds since the Unix epoch.
pub type UnixNanos = u64;

/// Formats a duration in nanoseconds the way Go's `time.Duration.String` does
/// (`1.5s`, `250ms`, `3µs`, `0s`, `1h2m3s`), which is what Jaeger prints in
/// warnings and what its query parameters accept.
pub fn format_duration_go(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if u < 1_000_000_000 {
        // Sub-second: pick the largest unit that keeps the integer part non-zero.
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&fraction(u, div));
        out.push_str(unit);
        return out;
    }
    let hours = u / 3_600_000_000_000;
    let rem = u % 3_600_000_000_000;
    let mins = rem / 60_000_000_000;
    let secs_ns = rem % 60_000_000_000;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || mins > 0 {
        out.push_str(&format!("{mins}m"));
    }
    out.push_str(&fraction(secs_ns, 1_000_000_000));
    out.push('s');
    out
}

fn fraction(value: u64, div: u64) -> String {
    let int = value / div;
    let frac = value % div;
    if frac == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::format_duration_go as f;

    #[test]
    fn matches_go_duration_strings() {
        assert_eq!(f(0), "0s");
        assert_eq!(f(1), "1ns");
        assert_eq!(f(1_500), "1.5µs");
        assert_eq!(f(2_000_000), "2ms");
        assert_eq!(f(1_500_000_000), "1.5s");
        assert_eq!(f(61_000_000_000), "1m1s");
        assert_eq!(f(3_600_000_000_000), "1h0m0s");
        assert_eq!(f(-5_000), "-5µs");
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            if leap { 29 } else { 28 }
        }
    }
}

/// Parses an RFC 3339 timestamp (`2017-01-26T16:46:31.639875139-05:00`,
/// `…Z`, 1 to 9 fraction digits) into signed nanoseconds since the Unix
/// epoch; times before 1970 (down to year 0) are negative. The error says
/// what is wrong.
pub fn parse_rfc3339_signed(s: &str) -> Result<i128, String> {
    let bad = |why: &str| format!("invalid RFC 3339 time {s:?}: {why}");
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(bad("too short"));
    }
    let digits = |from: usize, len: usize| -> Result<u32, String> {
        let part = b.get(from..from + len).ok_or_else(|| bad("truncated"))?;
        part.iter().try_fold(0u32, |acc, &c| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + u32::from(c - b'0'))
            } else {
                Err(bad("expected a digit"))
            }
        })
    };
    let expect = |at: usize, chars: &[u8]| -> Result<(), String> {
        match b.get(at) {
            Some(c) if chars.contains(c) => Ok(()),
            _ => Err(bad("unexpected separator")),
        }
    };
    let year = i64::from(digits(0, 4)?);
    expect(4, b"-")?;
    let month = digits(5, 2)?;
    expect(7, b"-")?;
    let day = digits(8, 2)?;
    expect(10, b"Tt ")?;
    let hour = digits(11, 2)?;
    expect(13, b":")?;
    let minute = digits(14, 2)?;
    expect(16, b":")?;
    let second = digits(17, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad("no such time of day"));
    }
    let mut pos = 19;
    let mut fraction_nanos: i128 = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        // Like Go, any number of digits; beyond nanoseconds they are dropped.
        let count = (pos - start).min(9);
        if count == 0 {
            return Err(bad("the fraction needs digits"));
        }
        let value = i128::from(digits(start, count)?);
        fraction_nanos = value * 10i128.pow(9 - count as u32);
    }
    let offset_seconds: i64 = match b.get(pos) {
        Some(b'Z' | b'z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if pos + 6 == b.len() => {
            let oh = digits(pos + 1, 2)?;
            expect(pos + 3, b":")?;
            let om = digits(pos + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(bad("no such offset"));
            }
            let total = i64::from(oh * 3600 + om * 60);
            if sign == b'+' { total } else { -total }
        }
        _ => return Err(bad("expected Z or a ±HH:MM offset at the end")),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
        - offset_seconds;
    Ok(i128::from(secs) * 1_000_000_000 + fraction_nanos)
}

/// [`parse_rfc3339_signed`] for times at or after 1970: `None` otherwise or
/// when the text is not RFC 3339.
pub fn parse_rfc3339(s: &str) -> Option<UnixNanos> {
    parse_rfc3339_signed(s)
        .ok()
        .and_then(|n| u64::try_from(n).ok())
}

/// Parses a Go duration string (`5000ns`, `1.5s`, `1h2m3.5s`, `-4µs`, `0`)
/// into nanoseconds, exactly as Go's `time.ParseDuration` does, with its
/// error texts (`time: invalid duration "x"`). Units: `ns`, `us`, `µs`,
/// `μs`, `ms`, `s`, `m`, `h`.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let quoted = format!("{s:?}");
    let err = || format!("time: invalid duration {quoted}");
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let b = rest.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(err());
        }
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut int: u128 = 0;
        for &c in &b[..int_len] {
            int = int
                .checked_mul(10)
                .and_then(|v| v.checked_add(u128::from(c - b'0')))
                .filter(|v| *v <= u128::from(u64::MAX))
                .ok_or_else(err)?;
        }
        let mut pos = int_len;
        let (mut frac, mut scale, mut frac_len) = (0u128, 1u128, 0usize);
        if b.get(pos) == Some(&b'.') {
            pos += 1;
            let start = pos;
            while b.get(pos).is_some_and(u8::is_ascii_digit) {
                // Digits beyond 18 cannot change a nanosecond count.
                if pos - start < 18 {
                    frac = frac * 10 + u128::from(b[pos] - b'0');
                    scale *= 10;
                }
                pos += 1;
            }
            frac_len = pos - start;
        }
        if int_len == 0 && frac_len == 0 {
            return Err(err());
        }
        let unit_len = b[pos..]
            .iter()
            .take_while(|c| !(**c == b'.' || c.is_ascii_digit()))
            .count();
        let unit_str = rest.get(pos..pos + unit_len).ok_or_else(err)?;
        let unit: u128 = match unit_str {
            "ns" => 1,
            "us" | "\u{00b5}s" | "\u{03bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration {quoted}")),
            _ => {
                return Err(format!(
                    "time: unknown unit {unit_str:?} in duration {quoted}"
                ));
            }
        };
        total = total
            .checked_add(int * unit + frac * unit / scale)
            .ok_or_else(err)?;
        if total > 1u128 << 63 {
            return Err(err());
        }
        rest = &rest[pos + unit_len..];
    }
    let limit = if negative {
        1u128 << 63
    } else {
        (1u128 << 63) - 1
    };
    if total > limit {
        return Err(err());
    }
    let magnitude = i128::try_from(total).map_err(|_| err())?;
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).map_err(|_| err())
}

/// Formats nanoseconds since the epoch as RFC 3339 in UTC with the shortest
/// exact fraction (Go's `time.RFC3339Nano`).
pub fn format_rfc3339(nanos: UnixNanos) -> String {
    let secs = (nanos / 1_000_000_000) as i64;
    let frac = nanos % 1_000_000_000;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod rfc3339_tests {
    use super::*;

    #[test]
    fn parses_offsets_fractions_and_round_trips() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2017-01-26T16:46:31.639875139-05:00"),
            Some(1_485_467_191_639_875_139)
        );
        assert_eq!(
            parse_rfc3339("2017-01-26T15:46:31.639875Z"),
            Some(1_485_445_591_639_875_000)
        );
        assert_eq!(
            format_rfc3339(1_485_445_591_639_875_000),
            "2017-01-26T15:46:31.639875Z"
        );
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        for bad in [
            "",
            "2017-01-26",
            "2017-13-01T00:00:00Z",
            "2017-02-30T00:00:00Z",
            "2017-01-26T00:00:00",
            "x017-01-26T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(
            parse_rfc3339_signed("0001-01-01T00:00:00Z"),
            Ok(-62_135_596_800_000_000_000)
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1.2s"), Ok(1_200_000_000));
        assert_eq!(parse_go_duration("4500ns"), Ok(4500));
        assert_eq!(parse_go_duration("500us"), Ok(500_000));
        assert_eq!(parse_go_duration("3\u{b5}s"), Ok(3_000));
        assert_eq!(parse_go_duration("2h45m"), Ok(9_900_000_000_000));
        assert_eq!(parse_go_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_go_duration("-1.5ms"), Ok(-1_500_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(
            parse_go_duration("abc"),
            Err("time: invalid duration \"abc\"".into())
        );
        assert_eq!(
            parse_go_duration("1"),
            Err("time: missing unit in duration \"1\"".into())
        );
        assert_eq!(
            parse_go_duration("1x"),
            Err("time: unknown unit \"x\" in duration \"1x\"".into())
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("99999999999999999999h").is_err());
    }
}
