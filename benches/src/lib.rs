//! Shared helpers for the benchmarks.

pub mod watchers_bench;
