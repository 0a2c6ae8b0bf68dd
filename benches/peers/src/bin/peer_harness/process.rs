//! One subject process: started with the common protocol's arguments, its
//! bound address read from its `listening` line, its output kept in a log,
//! killed when dropped.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::poller::Client;
use crate::subjects::{Kind, SERVICE_MANAGER, Subject};
use crate::verdict::Answer;

/// A running subject.
pub struct Running {
    child: Child,
    pub addr: SocketAddr,
}

impl Running {
    /// Starts `subject` (its binary is `program`) on `config`, waits for its
    /// `listening` line, then for it to serve `expected`. Its stdout and
    /// stderr go to `log`.
    pub fn start(
        subject: &Subject,
        program: &Path,
        config: &Path,
        log: &Path,
        expected: &[u8],
        timeout: Duration,
    ) -> io::Result<Self> {
        let mut args: Vec<OsString> = vec![
            "--config".into(),
            config.into(),
            "--bind".into(),
            "127.0.0.1:0".into(),
        ];
        if let Kind::Service(watcher) = subject.kind {
            args.extend(
                ["--watcher", watcher.name(), "--manager", SERVICE_MANAGER].map(OsString::from),
            );
            // A free admin port too: peers run side by side.
            args.extend(["--admin-bind", "127.0.0.1:0"].map(OsString::from));
        }
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Both streams append, so neither overwrites the other's lines.
        File::create(log)?;
        let log_file = OpenOptions::new().append(true).open(log)?;
        let mut child = Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file.try_clone()?)
            .env("NO_COLOR", "1")
            .spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (found, addr) = mpsc::channel();
        let mut log_file = OpenOptions::new().append(true).open(log)?;
        thread::spawn(move || {
            // Only the first address counts.
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_addr(&line)
                    && let Some(found) = found.take()
                {
                    let _ = found.send(addr);
                }
                let _ = writeln!(log_file, "{line}");
            }
        });
        let mut running = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let deadline = Instant::now() + timeout;
        running.addr = addr.recv_timeout(timeout).map_err(|_| {
            io::Error::other(format!(
                "{} printed no listening address in {timeout:?} (log: {})",
                subject.name,
                log.display()
            ))
        })?;
        let client = Client::new(running.addr);
        loop {
            match client.get() {
                Answer::Body(body) if &body[..] == expected => return Ok(running),
                answer if Instant::now() > deadline => {
                    return Err(io::Error::other(format!(
                        "{} did not serve its initial config in {timeout:?} (last answer {answer:?}; log: {})",
                        subject.name,
                        log.display()
                    )));
                }
                _ => thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a line announcing where a subject listens: a peer's
/// `listening on 127.0.0.1:PORT`, the service's `... listening addr=...`.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    if !line.to_ascii_lowercase().contains("listening") {
        return None;
    }
    line.split_whitespace().find_map(|word| {
        let word = word.rsplit('=').next().unwrap_or(word);
        word.trim_matches(|c: char| matches!(c, '"' | '\'' | ',' | '.'))
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines_of_every_subject_give_their_address() {
        let addr: SocketAddr = "127.0.0.1:40123".parse().unwrap();
        assert_eq!(listening_addr("listening on 127.0.0.1:40123"), Some(addr));
        assert_eq!(
            listening_addr(
                "2026-11-30T10:00:00.000Z  INFO service: listening addr=127.0.0.1:40123"
            ),
            Some(addr)
        );
        assert_eq!(
            listening_addr("Listening on '127.0.0.1:40123'...."),
            Some(addr)
        );
        assert_eq!(listening_addr("connected to 127.0.0.1:40123"), None);
    }
}
