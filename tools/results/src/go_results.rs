//! Go's benchmark output (`go test -bench`): one line per benchmark,
//! `BenchmarkName/sub-<GOMAXPROCS>  <iterations>  <ns> ns/op`.

/// One Go benchmark line.
#[derive(Debug, Clone, PartialEq)]
pub struct GoBenchmark {
    /// The name without `Benchmark` and without the `-<procs>` suffix.
    pub name: String,
    /// GOMAXPROCS (`-cpu`): the number of goroutines `RunParallel` reads from.
    pub procs: u32,
    pub nanos: f64,
}

/// Every benchmark line in `text`; other lines (`goos:`, `PASS`, …) are skipped.
pub fn parse(text: &str) -> Vec<GoBenchmark> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<GoBenchmark> {
    let mut fields = line.split_whitespace();
    let full = fields.next()?.strip_prefix("Benchmark")?;
    let _iterations: u64 = fields.next()?.parse().ok()?;
    let nanos: f64 = fields.next()?.parse().ok()?;
    if fields.next()? != "ns/op" {
        return None;
    }
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
    fn parse_reads_benchmark_lines_only() {
        let text = "goos: linux\ngoarch: amd64\npkg: seed\n\
            BenchmarkRead/mutex         \t255194862\t         4.812 ns/op\n\
            BenchmarkRead/mutex-2       \t100000000\t        10.31 ns/op\t       0 B/op\n\
            BenchmarkRead/channel-8     \t  2000000\t       612 ns/op\n\
            PASS\nok  \tseed\t3.1s\n";
        let parsed = parse(text);
        assert_eq!(parsed.len(), 3);
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
