//! Numbers as a reader wants them: three significant digits and a unit.

/// `0.512 ns`, `4.50 ns`, `81.2 µs`, `950 ms`, `2.50 s`.
pub fn nanos(value: f64) -> String {
    let (scaled, unit) = match value.abs() {
        v if v < 1e3 => (value, "ns"),
        v if v < 1e6 => (value / 1e3, "µs"),
        v if v < 1e9 => (value / 1e6, "ms"),
        _ => (value / 1e9, "s"),
    };
    format!("{} {unit}", significant(scaled))
}

/// Seconds, as [`nanos`] writes them.
pub fn seconds(value: f64) -> String {
    nanos(value * 1e9)
}

/// `812`, `98.2k`, `1.20M`; a whole number below 1000 as it is.
pub fn count(value: f64) -> String {
    match value.abs() {
        v if v < 1e3 && value.fract() == 0.0 => format!("{value}"),
        v if v < 1e3 => significant(value),
        v if v < 1e6 => format!("{}k", significant(value / 1e3)),
        _ => format!("{}M", significant(value / 1e6)),
    }
}

/// `8.2 MiB`.
pub fn bytes(value: f64) -> String {
    format!("{:.1} MiB", value / (1024.0 * 1024.0))
}

/// How many times `a` is `b`: `3.2×`, `120×`.
pub fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 || !a.is_finite() || !b.is_finite() {
        return "n/a".into();
    }
    format!("{}×", significant(a / b))
}

/// A record's value in its unit.
pub fn in_unit(value: f64, unit: &str) -> String {
    match unit {
        "ns" => nanos(value),
        "s" => seconds(value),
        "s/s" => format!("{}/s", seconds(value)),
        "bytes" => bytes(value),
        "req/s" | "count" => count(value),
        "ratio" => format!("{value:.2}"),
        "1/s" => format!("{}/s", significant(value)),
        other => format!("{} {other}", significant(value)),
    }
}

/// Three significant digits, no exponent.
pub fn significant(value: f64) -> String {
    let magnitude = value.abs();
    let decimals = if magnitude == 0.0 || magnitude >= 100.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else if magnitude >= 1.0 {
        2
    } else {
        3
    };
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_picks_the_unit() {
        assert_eq!(nanos(0.512), "0.512 ns");
        assert_eq!(nanos(4.5), "4.50 ns");
        assert_eq!(nanos(81_234.0), "81.2 µs");
        assert_eq!(nanos(950e6), "950 ms");
        assert_eq!(seconds(2.5), "2.50 s");
    }

    #[test]
    fn units_read_at_a_glance() {
        assert_eq!(count(812.0), "812");
        assert_eq!(count(98_210.0), "98.2k");
        assert_eq!(count(1_200_000.0), "1.20M");
        assert_eq!(ratio(120.0, 1.0), "120×");
        assert_eq!(ratio(1.0, 0.0), "n/a");
        assert_eq!(in_unit(8.2 * 1024.0 * 1024.0, "bytes"), "8.2 MiB");
        assert_eq!(in_unit(0.000_102, "s/s"), "102 µs/s");
        assert_eq!(in_unit(1.2, "1/s"), "1.20/s");
    }
}
