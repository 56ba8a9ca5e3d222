//! Number formatting shared by the screen and the exports: compact, fixed-width friendly.

use humansize::{BINARY, FormatSizeOptions, format_size};

/// Bytes as `0 B`, `999 B`, `3.9 KiB`, `1.2 GiB`.
pub fn bytes(n: u64) -> String {
    format_size(n, FormatSizeOptions::from(BINARY).decimal_places(1))
}

/// A packet count: exact up to 99999, then `123.4K`, `1.5M`, `12.0G`, `3.1T`, ...
pub fn count(n: u64) -> String {
    if n < 100_000 {
        return n.to_string();
    }
    let units = ["K", "M", "G", "T", "P", "E"];
    let mut v = n as f64;
    let mut i = 0;
    loop {
        v /= 1000.0;
        if v < 999.95 || i + 1 == units.len() {
            break;
        }
        i += 1;
    }
    format!("{v:.1}{}", units[i])
}

/// A rate per second: `0`, `0.3`, `12.5`, `1.2K`.
pub fn rate(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        "0".into()
    } else if r < 100.0 {
        let s = format!("{r:.1}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    } else if r < 100_000.0 {
        format!("{r:.0}")
    } else {
        count(r as u64)
    }
}

/// Bytes per second: `0 B/s`, `4.1 KiB/s`.
pub fn byte_rate(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        "0 B/s".into()
    } else {
        format!("{}/s", bytes(r as u64))
    }
}

/// RFC 3339 in UTC with milliseconds.
pub fn timestamp(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// `2.00s`, `500ms`, `1m 30s` for windows and intervals.
pub fn duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 60_000 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(4052), "4.0 KiB");
        assert_eq!(bytes(4096), "4 KiB");
        assert_eq!(bytes(4152), "4.1 KiB");
        assert_eq!(bytes(u64::MAX), "16 EiB");
        assert_eq!(count(99_999), "99999");
        assert_eq!(count(100_000), "100.0K");
        assert_eq!(count(1_500_000), "1.5M");
        assert_eq!(count(999_960), "1.0M");
        assert_eq!(count(u64::MAX), "18.4E");
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(2.0), "2");
        assert_eq!(rate(1.25), "1.2");
        assert_eq!(rate(1234.4), "1234");
        assert_eq!(rate(f64::NAN), "0");
        assert_eq!(duration(std::time::Duration::from_millis(500)), "500ms");
        assert_eq!(duration(std::time::Duration::from_secs(2)), "2s");
        assert_eq!(duration(std::time::Duration::from_millis(2460)), "2.46s");
    }
}
