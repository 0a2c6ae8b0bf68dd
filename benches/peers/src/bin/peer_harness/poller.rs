//! Asks a subject `GET /` at a fixed interval on one keep-alive connection
//! and logs every answer with its arrival time, on the clock the writers
//! mark their commits on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::verdict::{Answer, Sample};

/// A request with no answer after this counts as no answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// Bodies up to this size are read whole (the oversize bad file's message
/// is 8 MiB).
const BODY_LIMIT: u64 = 64 << 20;

/// One `GET /` with the harness's HTTP client.
pub struct Client {
    agent: ureq::Agent,
    url: String,
}

impl Client {
    /// A client for the subject at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Self {
            agent,
            url: format!("http://{addr}/"),
        }
    }

    /// What `GET /` answers now.
    pub fn get(&self) -> Answer {
        let mut response = match self.agent.get(&self.url).call() {
            Ok(response) => response,
            Err(_) => return Answer::Down,
        };
        let status = response.status().as_u16();
        if status != 200 {
            return Answer::Status(status);
        }
        match response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
        {
            Ok(body) => Answer::Body(body.into()),
            Err(_) => Answer::Down,
        }
    }
}

/// A running poller; [`stop`](Self::stop) returns its log.
pub struct Poller {
    origin: Instant,
    log: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    /// Starts polling `addr` every `interval`; times are measured from
    /// `origin`.
    pub fn start(addr: SocketAddr, origin: Instant, interval: Duration) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
            thread::spawn(move || poll(&Client::new(addr), origin, interval, &log, &stop))
        };
        Self {
            origin,
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// Now, on the log's clock.
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The same instant on the log's clock.
    pub fn at(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.origin)
    }

    /// Waits until an answer that arrived after `since` carries `body`, or
    /// `deadline` passes (on the log's clock); returns whether it came.
    pub fn wait_for(&self, body: &[u8], since: Duration, deadline: Duration) -> bool {
        let mut seen = 0;
        loop {
            {
                let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
                let found = log[seen..].iter().any(|sample| {
                    sample.at >= since
                        && matches!(&sample.answer, Answer::Body(b) if &b[..] == body)
                });
                if found {
                    return true;
                }
                seen = log.len();
            }
            if self.now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops polling and returns every sample, oldest first.
    pub fn stop(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn poll(
    client: &Client,
    origin: Instant,
    interval: Duration,
    log: &Mutex<Vec<Sample>>,
    stop: &AtomicBool,
) {
    let mut next = Instant::now();
    let mut last_body: Option<Arc<[u8]>> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut answer = client.get();
        let at = origin.elapsed();
        // One allocation per distinct body, so a long log of the same
        // answer (or of an 8 MiB one) stays small.
        if let Answer::Body(body) = &answer {
            match &last_body {
                Some(last) if last[..] == body[..] => answer = Answer::Body(Arc::clone(last)),
                _ => last_body = Some(Arc::clone(body)),
            }
        }
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Sample { at, answer });
        next += interval;
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}
