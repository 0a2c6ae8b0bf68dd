//! What a subject costs while nothing changes, read from `/proc`: context
//! switches of all its threads (each is a wake-up or a preemption), CPU time,
//! and peak resident memory.

use std::fs;
use std::io;
use std::time::Duration;

/// A snapshot of a process's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Voluntary + nonvoluntary context switches, summed over the threads
    /// alive now (`/proc/PID/task/*/status`).
    pub context_switches: u64,
    /// User + system CPU time of the process (`/proc/PID/stat`), which also
    /// counts threads that have exited.
    pub cpu: Duration,
}

/// Reads the counters of process `pid`.
pub fn counters(pid: u32) -> io::Result<Counters> {
    let mut context_switches = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let status = match fs::read_to_string(task?.path().join("status")) {
            Ok(status) => status,
            // A thread that exited between the listing and the read.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        context_switches += status_field(&status, "voluntary_ctxt_switches")?
            + status_field(&status, "nonvoluntary_ctxt_switches")?;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    Ok(Counters {
        context_switches,
        cpu: cpu_time(&stat)?,
    })
}

/// Peak resident set size in bytes (`VmHWM`).
pub fn peak_rss(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(status_field(&status, "VmHWM")? * 1024)
}

/// A numeric field of a `/proc/.../status` file (the first number after
/// `name:`; `kB` fields are returned in kB).
fn status_field(status: &str, name: &str) -> io::Result<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| invalid(format!("no {name} in /proc status")))
}

/// `utime + stime` of a `/proc/PID/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn cpu_time(stat: &str) -> io::Result<Duration> {
    let after_name = stat
        .rsplit_once(')')
        .ok_or_else(|| invalid("no ) in /proc stat".into()))?
        .1;
    // Fields 3.. follow the name; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> io::Result<u64> {
        fields
            .get(index - 3)
            .and_then(|field| field.parse().ok())
            .ok_or_else(|| invalid(format!("no field {index} in /proc stat")))
    };
    let total = ticks(14)? + ticks(15)?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).unwrap_or(100).max(1);
    Ok(Duration::from_nanos(total * 1_000_000_000 / per_second))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_counts_fields_after_a_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid ... utime=7 stime=3 (fields 14, 15)
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 7 3 0 0 20 0 1 0";
        let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap();
        assert_eq!(
            cpu_time(stat).unwrap(),
            Duration::from_nanos(10 * 1_000_000_000 / hz)
        );
    }

    #[test]
    fn this_process_has_counters_and_a_peak() {
        let me = std::process::id();
        let counters = counters(me).unwrap();
        assert!(counters.context_switches > 0);
        assert!(peak_rss(me).unwrap() > 0);
    }
}
