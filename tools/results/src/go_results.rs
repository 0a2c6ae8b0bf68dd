//! Go's benchmark output (`go test -bench`): one line per benchmark,
//! `BenchmarkName/sub-<GOMAXPROCS>  <iterations>  <value> <unit> …`.
//! `benches/go` reports `ns/read` (wall time over all goroutines' reads, the
//! Rust bench's aggregate) beside Go's own `ns/op` (per goroutine): the
//! former is taken when present.

/// One Go benchmark line.
#[derive(Debug, Clone, PartialEq)]
pub struct GoBenchmark {
    /// The name without `Benchmark` and without the `-<procs>` suffix.
    pub name: String,
    /// GOMAXPROCS (`-cpu`): the number of goroutines `RunParallel` reads from.
    pub procs: u32,
    pub nanos: f64,
}

/// Every benchmark in `text`, in first-seen order; a benchmark run several
/// times (`-count`) gives its median. Other lines (`goos:`, `PASS`, …) are
/// skipped.
pub fn parse(text: &str) -> Vec<GoBenchmark> {
    let mut runs: Vec<(GoBenchmark, Vec<f64>)> = Vec::new();
    for benchmark in text.lines().filter_map(parse_line) {
        let same = |(seen, _): &&mut (GoBenchmark, Vec<f64>)| {
            seen.name == benchmark.name && seen.procs == benchmark.procs
        };
        match runs.iter_mut().find(same) {
            Some((_, values)) => values.push(benchmark.nanos),
            None => {
                let nanos = benchmark.nanos;
                runs.push((benchmark, vec![nanos]));
            }
        }
    }
    runs.into_iter()
        .map(|(benchmark, mut values)| {
            values.sort_by(f64::total_cmp);
            let middle = values.len() / 2;
            let nanos = if values.len() % 2 == 1 {
                values[middle]
            } else {
                (values[middle - 1] + values[middle]) / 2.0
            };
            GoBenchmark { nanos, ..benchmark }
        })
        .collect()
}

fn parse_line(line: &str) -> Option<GoBenchmark> {
    let mut fields = line.split_whitespace();
    let full = fields.next()?.strip_prefix("Benchmark")?;
    let _iterations: u64 = fields.next()?.parse().ok()?;
    let rest: Vec<&str> = fields.collect();
    let metric = |unit: &str| {
        rest.chunks(2)
            .find(|pair| pair.get(1) == Some(&unit))
            .and_then(|pair| pair[0].parse::<f64>().ok())
    };
    let nanos = metric("ns/read").or_else(|| metric("ns/op"))?;
    // Go omits the suffix when GOMAXPROCS is 1.
    let (name, procs) = match full.rsplit_once('-') {
        Some((name, procs)) if procs.parse::<u32>().is_ok() => (name, procs.parse().ok()?),
        _ => (full, 1),
    };
    Some(GoBenchmark {
        name: name.to_owned(),
        procs,
        nanos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_runs_give_their_median() {
        let text = "BenchmarkManagers/read_1t/mutex-2 100 5.0 ns/op 5.0 ns/read\n\
            BenchmarkManagers/read_1t/mutex-2 100 9.0 ns/op 9.0 ns/read\n\
            BenchmarkManagers/read_1t/mutex-2 100 6.0 ns/op 6.0 ns/read\n\
            BenchmarkManagers/read_1t/channel-2 100 90 ns/op 90 ns/read\n\
            BenchmarkManagers/read_1t/channel-2 100 110 ns/op 110 ns/read\n";
        let parsed = parse(text);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].nanos, 6.0);
        assert_eq!(parsed[1].nanos, 100.0);
    }

    #[test]
    fn parse_reads_benchmark_lines_only() {
        let text = "goos: linux\ngoarch: amd64\npkg: seed\n\
            BenchmarkRead/mutex         \t255194862\t         4.812 ns/op\n\
            BenchmarkRead/mutex-2       \t100000000\t        10.31 ns/op\t       0 B/op\n\
            BenchmarkRead/channel-8     \t  2000000\t       612 ns/op\n\
            BenchmarkManagers/read_2t/mutex-2 \t 50000000\t        24.0 ns/op\t        12.0 ns/read\n\
            PASS\nok  \tseed\t3.1s\n";
        let parsed = parse(text);
        assert_eq!(parsed.len(), 4);
        // The aggregate metric wins over Go's per-goroutine ns/op.
        assert_eq!(
            (parsed[3].name.as_str(), parsed[3].nanos),
            ("Managers/read_2t/mutex", 12.0)
        );
        assert_eq!(
            parsed[0],
            GoBenchmark {
                name: "Read/mutex".into(),
                procs: 1,
                nanos: 4.812
            }
        );
        assert_eq!((parsed[1].procs, parsed[1].nanos), (2, 10.31));
        assert_eq!(
            (parsed[2].name.as_str(), parsed[2].procs),
            ("Read/channel", 8)
        );
    }
}
