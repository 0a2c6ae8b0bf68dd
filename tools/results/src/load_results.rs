//! The load benchmark's output (`benches/load/run.sh` stdout): a markdown
//! table with one row per manager, the floor's peak RSS and the reload
//! latency of the default pair. Columns are found by their header, so a
//! reordered or widened table still reads.

/// One manager's row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadRow {
    pub manager: String,
    pub floor_rps: f64,
    pub quiet_rps: f64,
    /// Median of the per-pair service/floor ratios.
    pub ratio: f64,
    /// While a writer swaps `..data` at the bench's rate.
    pub reloading_rps: f64,
    pub reload_cost: String,
    pub non2xx: u64,
    pub rss_mb: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadResults {
    /// The line saying how wrk ran (`wrk -t2 -c64 -d10s, …`).
    pub setup: String,
    pub rows: Vec<LoadRow>,
    pub floor_rss_mb: Option<f64>,
    /// The reload-latency line as printed (`arcswap + inotify reload latency …`).
    pub latency: Option<String>,
}

/// Reads what `run.sh` printed; `Err` says what was missing.
pub fn parse(text: &str) -> Result<LoadResults, String> {
    let mut results = LoadResults::default();
    let mut columns: Option<Vec<String>> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("wrk ") {
            line.clone_into(&mut results.setup);
        } else if let Some(rest) = line.strip_prefix("floor peak RSS:") {
            results.floor_rss_mb = number(rest);
        } else if line.contains("reload latency") {
            results.latency = Some(line.to_owned());
        } else if line.starts_with('|') {
            let cells = cells(line);
            if cells.first().is_some_and(|cell| cell == "manager") {
                columns = Some(cells);
            } else if cells
                .iter()
                .all(|cell| cell.chars().all(|c| c == '-' || c == ':'))
            {
                continue;
            } else if let Some(columns) = &columns {
                results.rows.push(row(columns, &cells)?);
            }
        }
    }
    if results.rows.is_empty() {
        return Err("no manager rows (expected a table starting `| manager |`)".into());
    }
    Ok(results)
}

fn cells(line: &str) -> Vec<String> {
    line.trim_matches('|')
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .collect()
}

fn row(columns: &[String], cells: &[String]) -> Result<LoadRow, String> {
    let find = |matches: &dyn Fn(&str) -> bool| -> Result<&str, String> {
        columns
            .iter()
            .position(|column| matches(column))
            .and_then(|index| cells.get(index))
            .map(String::as_str)
            .ok_or_else(|| format!("row {cells:?}: a column is missing from {columns:?}"))
    };
    let float = |matches: &dyn Fn(&str) -> bool| -> Result<f64, String> {
        let cell = find(matches)?;
        number(cell).ok_or_else(|| format!("not a number: {cell:?}"))
    };
    Ok(LoadRow {
        manager: find(&|c| c == "manager")?.to_owned(),
        floor_rps: float(&|c| c.starts_with("floor"))?,
        quiet_rps: float(&|c| c == "service req/s")?,
        ratio: float(&|c| c.contains('/') && c.contains("floor") && c.starts_with("service"))?,
        reloading_rps: float(&|c| c.starts_with("service req/s @"))?,
        reload_cost: find(&|c| c == "reload cost")?.to_owned(),
        non2xx: float(&|c| c == "non-2xx")? as u64,
        rss_mb: float(&|c| c.contains("RSS"))?,
    })
}

/// The first number in `text` (`"5.2 MB"` → 5.2).
fn number(text: &str) -> Option<f64> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "
wrk -t2 -c64 -d10s, 3 alternating pairs per manager, watcher inotify, 2 cores

| manager | floor req/s | service req/s | service / floor | service req/s @ 100 reloads/s | reload cost | reloads applied | non-2xx | peak RSS |
|---|---|---|---|---|---|---|---|---|
| arcswap | 101234 | 90321 | 0.892 | 88000 | 2.6% | 3300 | 0 | 9.8 MB |
| channel | 99000 | 41000 | 0.414 | 39000 | 4.9% | 3290 | 0 | 10.1 MB |

floor peak RSS: 5.3 MB
arcswap + inotify reload latency over 200 updates: p50 312.5µs p90 401µs p99 1.2ms max 3.1ms
";

    #[test]
    fn parse_reads_every_row_and_the_trailing_lines() {
        let results = parse(OUTPUT).unwrap();
        assert!(results.setup.starts_with("wrk -t2 -c64 -d10s"));
        assert_eq!(results.rows.len(), 2);
        let channel = &results.rows[1];
        assert_eq!(channel.manager, "channel");
        assert_eq!(channel.floor_rps, 99000.0);
        assert_eq!(channel.quiet_rps, 41000.0);
        assert_eq!(channel.ratio, 0.414);
        assert_eq!(channel.reloading_rps, 39000.0);
        assert_eq!(channel.reload_cost, "4.9%");
        assert_eq!(channel.rss_mb, 10.1);
        assert_eq!(results.floor_rss_mb, Some(5.3));
        assert!(results.latency.unwrap().contains("p50 312.5µs"));
    }

    #[test]
    fn parse_rejects_output_without_a_table() {
        assert!(parse("building (release) ...\n").is_err());
    }

    #[test]
    fn number_takes_the_first_number() {
        assert_eq!(number(" 5.2 MB"), Some(5.2));
        assert_eq!(number("n/a"), None);
    }
}
