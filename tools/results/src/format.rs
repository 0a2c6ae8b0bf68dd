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

/// `812`, `98.2k`, `1.20M`.
pub fn count(value: f64) -> String {
    match value.abs() {
        v if v < 1e3 => significant(value),
        v if v < 1e6 => format!("{}k", significant(value / 1e3)),
        _ => format!("{}M", significant(value / 1e6)),
    }
}

/// How many times `a` is `b`: `3.2×`, `120×`.
pub fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 || !a.is_finite() || !b.is_finite() {
        return "n/a".into();
    }
    format!("{}×", significant(a / b))
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
        assert_eq!(nanos(2.5e9), "2.50 s");
    }

    #[test]
    fn count_and_ratio_read_at_a_glance() {
        assert_eq!(count(812.0), "812");
        assert_eq!(count(98_210.0), "98.2k");
        assert_eq!(count(1_200_000.0), "1.20M");
        assert_eq!(ratio(120.0, 1.0), "120×");
        assert_eq!(ratio(1.0, 0.0), "n/a");
    }
}
