//! Number formatting shared by the screen and the exports: compact, fixed-width friendly.

use crate::model::{Short, Text};

/// `q` tenths as `12.3`.
fn tenths(s: &mut Short, q: u128) -> &mut Short {
    let q = u64::try_from(q).unwrap_or(u64::MAX);
    let digit = [b'0' + (q % 10) as u8];
    s.int((q / 10).into())
        .push(".")
        .push(std::str::from_utf8(&digit).unwrap_or_default())
}

/// `m / 2^shift` times `scale`, rounded to a whole number, ties to even: what `format!`
/// writes with `scale`'s decimals (`{:.1}` for 10) for a value that is exactly that.
fn round_scaled(m: u128, shift: u32, scale: u128) -> u128 {
    let t = m * scale;
    if shift == 0 {
        return t;
    }
    if shift > 64 {
        // a float's whole number is below 2^53, times 10 below 2^57: under a half
        return 0;
    }
    let (q, r, half) = (t >> shift, t & ((1 << shift) - 1), 1u128 << (shift - 1));
    if r > half || (r == half && q & 1 == 1) {
        q + 1
    } else {
        q
    }
}

/// The exact value of a finite, non-negative `f64` below 2^64 as `m / 2^shift` (a whole
/// number and a power of two: every such float is one).
fn exact(v: f64) -> (u128, u32) {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = u128::from(bits & ((1 << 52) - 1));
    let (m, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | 1 << 52, exp - 1075)
    };
    if e >= 0 {
        (m << e, 0)
    } else {
        (m, e.unsigned_abs())
    }
}

/// Bytes as `0 B`, `999 B`, `3.9 KiB`, `1.2 GiB`: what humansize's binary format with one
/// decimal place writes (a whole number without decimals, else one decimal rounded to
/// even), worked out in integers: the value is the `f64` of `n` over a power of 1024,
/// which that division leaves exact.
pub fn bytes(n: u64) -> Text {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut s = Short::default();
    if n < 1024 {
        return s.int(n.into()).push(" B").text();
    }
    // humansize divides the f64 of n: the same rounding of n above 2^53
    let m = n as f64 as u128;
    let mut k = 1;
    while m >> (10 * k) >= 1024 {
        k += 1;
    }
    let shift = 10 * k;
    if m & ((1 << shift) - 1) == 0 {
        s.int(m >> shift);
    } else {
        tenths(&mut s, round_scaled(m, shift, 10));
    }
    s.push(" ").push(UNITS[k as usize]).text()
}

/// A packet count: exact up to 99999, then `123.4K`, `1.5M`, `12.0G`, `3.1T`, ...
pub fn count(n: u64) -> Text {
    if n < 100_000 {
        return Short::default().int(n.into()).text();
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
    // `{v:.1}` of the float v is
    let (m, shift) = exact(v);
    let mut s = Short::default();
    tenths(&mut s, round_scaled(m, shift, 10))
        .push(units[i])
        .text()
}

/// A rate per second: `0`, `0.3`, `12.5`, `1.2K`.
pub fn rate(r: f64) -> Text {
    if !r.is_finite() || r <= 0.0 {
        Text::const_new("0")
    } else if r < 100.0 {
        // `{r:.1}` without a `.0`
        let (m, shift) = exact(r);
        let q = round_scaled(m, shift, 10);
        let mut s = Short::default();
        if q.is_multiple_of(10) {
            s.int(q / 10).text()
        } else {
            tenths(&mut s, q).text()
        }
    } else if r < 100_000.0 {
        let (m, shift) = exact(r);
        Short::default().int(round_scaled(m, shift, 1)).text()
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

    /// Bytes as humansize writes them, counts as `to_string`, rates as `format!`.
    #[test]
    fn the_integer_forms_write_what_the_float_ones_write() {
        use humansize::{BINARY, FormatSizeOptions};
        let opts = FormatSizeOptions::from(BINARY).decimal_places(1);
        // exact ties of the first decimal (x.x5 of a unit), rounded to even
        // (2.25 KiB is 9 << 8): an odd multiple of a quarter of the unit
        let ties = (1..4000u64).flat_map(|j| {
            (1..=6)
                .map(move |k| (2 * j + 1, 10 * k - 2))
                .filter(|&(odd, shift)| odd < 1 << (64 - shift))
                .map(|(odd, shift)| odd << shift)
        });
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let near = (0..64).flat_map(|b| {
            let p = 1u64 << b;
            [p - 1, p, p + 1, p.saturating_mul(3) / 2]
        });
        let random = (0..20_000).map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x >> (i % 64)
        });
        let old_count = |n: u64| {
            let mut v = n as f64;
            let mut i = 0;
            loop {
                v /= 1000.0;
                if v < 999.95 || i == 5 {
                    break;
                }
                i += 1;
            }
            format!("{v:.1}{}", ["K", "M", "G", "T", "P", "E"][i])
        };
        // around each unit's 999.95
        let unit_ends = (1..6u32).flat_map(|k| {
            let e = 999_950 * 10u64.pow(3 * k - 3) / 1000;
            (0..200).map(move |d| (e * 1000).saturating_add(d * 7).saturating_sub(700))
        });
        for n in (0..5000)
            .chain(near)
            .chain(ties)
            .chain(random)
            .chain(unit_ends)
        {
            assert_eq!(bytes(n), humansize::format_size(n, opts), "{n}");
            let old = if n < 100_000 {
                n.to_string()
            } else {
                old_count(n)
            };
            assert_eq!(count(n), old, "{n}");
        }
        let steps = (0..40_000).map(|i| f64::from(i) * 0.0125 + f64::from(i % 7) * 1e-9);
        let big = (0..20_000).map(|i| 99.0 + f64::from(i) * 5.0001);
        let edges = [
            0.04, 0.05, 0.15, 0.25, 0.95, 1.0, 9.96, 99.94, 99.95, 99.96, 100.0, 100.5, 101.5,
            99_999.4, 99_999.5, 1e12, 5e-324,
        ];
        for r in edges.into_iter().chain(steps).chain(big) {
            let old = if r <= 0.0 {
                "0".to_string()
            } else if r < 100.0 {
                let s = format!("{r:.1}");
                s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
            } else if r < 100_000.0 {
                format!("{r:.0}")
            } else {
                count(r as u64).to_string()
            };
            assert_eq!(rate(r), old, "{r}");
        }
    }
}
