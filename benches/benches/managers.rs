//! What a read of the current config costs with each manager, alone, in
//! parallel and under a writer, and what a publish costs under read load.
//!
//! ```text
//! cargo bench -p benches --bench managers                  # everything, a few minutes
//! cargo bench -p benches --bench managers -- managers/read_ # the read scenarios only
//! ```
//!
//! After criterion has run, the bench appends one record per id it measured
//! (criterion's median; `ns_per_read` or `ns_per_publish`) to
//! `target/records/managers.jsonl` (`BENCH_RECORDS` overrides; see
//! `benches::output`). The Go side (`benches/go`) writes the same records
//! for Go's managers. Ids are `managers/<scenario>/<impl>`:
//!
//! | scenario | what runs |
//! |---|---|
//! | `read_1t` | one reader thread, no writer |
//! | `read_1t_writer` | one reader thread while a writer publishes 1000 times/s |
//! | `read_2t` | two reader threads |
//! | `read_2t_writer` | two reader threads while a writer publishes 1000 times/s |
//! | `read_8t` | eight reader threads, oversubscribing the 2 cores |
//! | `read_8t_writer` | eight reader threads while a writer publishes 1000 times/s |
//! | `publish` | one publish, while two reader threads read flat out |
//!
//! Read figures are wall time per read aggregated over all threads:
//! `ns per read = wall time / (threads × reads per thread)`, the wall time
//! running from the first thread's first read to the last thread's last read.
//! Two perfectly scaling threads halve the `read_1t` figure. The `publish`
//! figure is the publishing thread's time per publish.
//!
//! Implementations: every design of `config_reload_managers::design::NAMES`,
//! and the read paths of `records::registry::ReadPath`: `plain_arc` (an
//! unsynchronised `Arc` deref, the floor; it cannot be published to, so it
//! has no `*_writer` scenario or `publish`) and `arcswap_cached` (one
//! `CachedReader` per thread).

use std::time::Duration;

use benches::manager_scenarios::{Cached, Managed, PlainArc, Subject, time_publishes, time_reads};
use benches::output::{self, CriterionRun};
use config_reload_managers::{Design, DesignVisitor, design};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use records::registry::ReadPath;

/// (scenario, reader threads, with a 1 kHz writer)
const READ_SCENARIOS: [(&str, usize, bool); 6] = [
    ("read_1t", 1, false),
    ("read_1t_writer", 1, true),
    ("read_2t", 2, false),
    ("read_2t_writer", 2, true),
    ("read_8t", 8, false),
    ("read_8t_writer", 8, true),
];

fn bench_subject<S: Subject>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, subject: &S) {
    let publishable = subject.publisher().is_some();
    for (scenario, threads, with_writer) in READ_SCENARIOS {
        if with_writer && !publishable {
            continue;
        }
        group.bench_function(BenchmarkId::new(scenario, name), |b| {
            b.iter_custom(|iters| time_reads(subject, threads, iters, with_writer));
        });
    }
    if publishable {
        group.bench_function(BenchmarkId::new("publish", name), |b| {
            b.iter_custom(|iters| time_publishes(subject, iters));
        });
    }
}

/// Benches the design it visits, under the design's name.
struct BenchDesign<'g, 'c>(&'g mut BenchmarkGroup<'c, WallTime>);

impl DesignVisitor for BenchDesign<'_, '_> {
    type Output = ();
    fn visit<D: Design>(self) {
        bench_subject(
            self.0,
            design::name::<D>(),
            &Managed::<D::Manager<_>>::new(),
        );
    }
}

fn managers(c: &mut Criterion) {
    let mut group = c.benchmark_group("managers");
    for path in ReadPath::ALL {
        match path {
            ReadPath::PlainArc => bench_subject(&mut group, path.name(), &PlainArc::default()),
            ReadPath::ArcSwapCached => bench_subject(&mut group, path.name(), &Cached::default()),
        }
    }
    for &name in design::NAMES {
        design::visit(name, BenchDesign(&mut group));
    }
    group.finish();
}

fn main() {
    let run = CriterionRun::start();
    // Short runs: 33 benchmarks should finish in a few minutes on a shared
    // machine; fewer samples also mean fewer thread start-ups per benchmark.
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .output_directory(run.dir())
        .configure_from_args();
    managers(&mut criterion);
    criterion.final_summary();
    let records = run
        .records(|scenario| {
            if scenario == "publish" {
                "ns_per_publish"
            } else {
                "ns_per_read"
            }
        })
        .expect("criterion's estimates of this run");
    output::write("managers", &records);
}
