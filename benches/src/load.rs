//! The load benchmark's arithmetic (the `load` binary runs the processes):
//! what one wrk run reports, and the records made of a manager's
//! alternating floor/service pairs.
//!
//! Per pair, wrk loads the floor, then the service, quiet; then, while a
//! kubelet-style writer swaps `..data`, the floor and the service again. The
//! floor does not watch the volume, so what the writer's own work takes from
//! the cores shows in both and cancels out of the reload cost:
//! `reload_cost = 1 - (service/floor while writing) / (service/floor quiet)`.

use records::Record;
use serde::Deserialize;

/// wrk's `done()` hook, printing one JSON line the benchmark parses.
pub const WRK_SCRIPT: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout))
end
"#;

/// One wrk run, as [`WRK_SCRIPT`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct WrkRun {
    pub requests: u64,
    pub duration_us: u64,
    pub non_2xx: u64,
    pub socket_errors: u64,
}

impl WrkRun {
    /// The JSON line [`WRK_SCRIPT`] printed last in wrk's output.
    pub fn parse(output: &str) -> Result<Self, String> {
        let line = output
            .lines()
            .rev()
            .find(|line| line.starts_with('{'))
            .ok_or("wrk printed no summary line (was the script loaded?)")?;
        serde_json::from_str(line).map_err(|error| format!("wrk's summary `{line}`: {error}"))
    }

    pub fn requests_per_s(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6)
    }
}

/// The four runs of one alternating pair.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    pub floor: WrkRun,
    pub service: WrkRun,
    pub floor_writing: WrkRun,
    pub service_writing: WrkRun,
}

impl Pair {
    fn ratio(&self) -> f64 {
        self.service.requests_per_s() / self.floor.requests_per_s()
    }

    fn ratio_writing(&self) -> f64 {
        self.service_writing.requests_per_s() / self.floor_writing.requests_per_s()
    }
}

/// The median (the mean of the middle two for an even count); NaN for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// `load/quiet/<manager>` and `load/reloading/<manager>`: medians over the
/// pairs of the service's and the floor's requests/s and of the per-pair
/// ratio; the reload cost (median of the per-pair costs); non-2xx answers.
pub fn pair_records(manager: &str, pairs: &[Pair]) -> Vec<Record> {
    let n = pairs.len() as u64;
    let of = |f: fn(&Pair) -> f64| median(pairs.iter().map(f).collect());
    let record = |scenario: &str, metric: &str, value: f64, unit: &str| {
        Record::new("load", scenario, manager, metric, value, unit, n)
    };
    // Failed answers of the service, of all its requests in that phase.
    let failed = |scenario: &str, phase: fn(&Pair) -> &WrkRun| {
        let runs = || pairs.iter().map(phase);
        let failed = runs()
            .map(|run| run.non_2xx + run.socket_errors)
            .sum::<u64>();
        let requests = runs().map(|run| run.requests).sum();
        Record::new(
            "load",
            scenario,
            manager,
            "non_2xx",
            failed as f64,
            "count",
            requests,
        )
    };
    vec![
        record(
            "quiet",
            "requests_per_s",
            of(|p| p.service.requests_per_s()),
            "req/s",
        ),
        record(
            "quiet",
            "floor_requests_per_s",
            of(|p| p.floor.requests_per_s()),
            "req/s",
        ),
        record("quiet", "ratio_to_floor", of(Pair::ratio), "ratio"),
        failed("quiet", |p| &p.service),
        record(
            "reloading",
            "requests_per_s",
            of(|p| p.service_writing.requests_per_s()),
            "req/s",
        ),
        record(
            "reloading",
            "floor_requests_per_s",
            of(|p| p.floor_writing.requests_per_s()),
            "req/s",
        ),
        record(
            "reloading",
            "ratio_to_floor",
            of(Pair::ratio_writing),
            "ratio",
        ),
        record(
            "reloading",
            "reload_cost",
            of(|p| 1.0 - p.ratio_writing() / p.ratio()),
            "ratio",
        ),
        failed("reloading", |p| &p.service_writing),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(requests: u64) -> WrkRun {
        WrkRun {
            requests,
            duration_us: 1_000_000,
            non_2xx: 0,
            socket_errors: 0,
        }
    }

    #[test]
    fn wrk_summary_is_the_last_json_line() {
        let output = "Running 1s test @ http://127.0.0.1:1/\n  2 threads\nRequests/sec: 5.00\n\
                      {\"requests\":100,\"duration_us\":2000000,\"non_2xx\":3,\"socket_errors\":1}\n";
        let parsed = WrkRun::parse(output).unwrap();
        assert_eq!(parsed.non_2xx, 3);
        assert_eq!(parsed.requests_per_s(), 50.0);
        assert!(WrkRun::parse("Requests/sec: 5.00\n").is_err());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn reload_cost_is_the_drop_of_the_service_to_floor_ratio() {
        // Quiet the service serves 0.9 of the floor; while writing, 0.81 of it:
        // the writer took 10 % of what the service had relative to the floor.
        let pair = Pair {
            floor: run(1000),
            service: run(900),
            floor_writing: run(500),
            service_writing: run(405),
        };
        let records = pair_records("arcswap", &[pair]);
        let value = |scenario: &str, metric: &str| {
            records
                .iter()
                .find(|r| r.scenario == scenario && r.metric == metric)
                .map(|r| r.value)
                .unwrap()
        };
        assert!((value("quiet", "ratio_to_floor") - 0.9).abs() < 1e-9);
        assert!((value("reloading", "reload_cost") - 0.1).abs() < 1e-9);
        assert_eq!(value("reloading", "requests_per_s"), 405.0);
        assert!(
            records
                .iter()
                .all(|r| r.subject == "arcswap" && r.group == "load")
        );
    }
}
