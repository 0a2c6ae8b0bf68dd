//! The connection timeouts, in a reader-writer wrapped around the socket:
//!
//! - **header-read**: a request head must be complete within
//!   `--header-read-timeout` of its first byte (of the accept, for a
//!   connection's first request) — Go's `ReadHeaderTimeout`;
//! - **idle**: a connection that is neither reading a head nor running a
//!   handler is closed `--idle-timeout` after the last byte it wrote — Go's
//!   `IdleTimeout`, which also closes a client that stops reading its
//!   responses.
//!
//! Neither is upstream. `axum::serve` builds hyper's connection with no
//! timer and no way to give one, so hyper's `header_read_timeout` is never
//! in force under it. And hyper's is one timer, which it starts whenever it
//! waits for a head, idle time included (hyper issues #2355 and #3743 ask
//! for a separate idle timeout), so it cannot give a short header bound and
//! a long idle one. It also allocates and registers that timer for every
//! request: measured with cachegrind, +1 400 instructions a request (+11 %)
//! over serving without it. Here each connection has one timer, armed at
//! the accept and re-armed lazily: a request that arrives whole and is
//! answered at once costs one clock read (at its response's write) and a
//! few relaxed atomics; the timer is re-registered when it fires early,
//! about once per idle timeout of a busy connection.
//!
//! Where a head starts and ends is known without parsing: it starts with
//! the first bytes read after the previous head was dispatched, and ends
//! when hyper hands it to the service ([`ConnectionState::dispatched`]).
//! hyper answers one request at a time, so a handler runs from the
//! dispatch until the first byte of its response is written.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::capped::Slot;
use super::http_metrics::Closed;

/// What a connection's timeouts and its service share; dropped with the
/// connection, releasing its slot and counting why the server closed it.
#[derive(Default)]
pub(super) struct ConnectionState {
    /// Request heads handed to the service so far.
    dispatched: AtomicU64,
    /// Which timeout closed the connection: 0 (none), 1 (header-read) or
    /// 2 (idle).
    closed_for: AtomicU8,
    slot: Option<Slot>,
}

impl ConnectionState {
    pub fn new(slot: Option<Slot>) -> Self {
        Self {
            dispatched: AtomicU64::new(0),
            closed_for: AtomicU8::new(0),
            slot,
        }
    }

    pub fn dispatched(&self) -> u64 {
        self.dispatched.load(Ordering::Relaxed)
    }

    /// A head was complete and handed to the service.
    pub fn dispatched_one(&self) {
        self.dispatched.fetch_add(1, Ordering::Relaxed);
    }

    fn timed_out(&self, timeout: Closed) {
        self.closed_for.store(timeout as u8, Ordering::Relaxed);
    }

    /// Which timeout closed the connection, if one did.
    fn closed_for(&self) -> Option<Closed> {
        match self.closed_for.load(Ordering::Relaxed) {
            1 => Some(Closed::HeaderTimeout),
            2 => Some(Closed::IdleTimeout),
            _ => None,
        }
    }
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        // hyper ends a connection that timed out before a request's first
        // byte without an error: the state says it.
        if let (Some(slot), Some(timeout)) = (&self.slot, self.closed_for()) {
            slot.metrics().closed(timeout);
        }
    }
}

/// The two bounds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    pub header_read: Duration,
    pub idle: Duration,
}

/// A request head being read.
struct Head {
    /// Heads dispatched when its first bytes came: a change means it was.
    dispatched_before: u64,
    /// When it must be complete; set at the first read that would block.
    due: Option<Instant>,
}

/// `io`, failing reads and writes with `TimedOut` once a bound is passed.
pub struct TimedIo<IO> {
    io: IO,
    bounds: Bounds,
    state: Arc<ConnectionState>,
    head: Option<Head>,
    /// Heads whose response has started being written.
    responded: u64,
    last_write: Instant,
    /// Never later than the bound in force; re-armed when it fires early.
    timer: Pin<Box<Sleep>>,
}

impl<IO> TimedIo<IO> {
    /// A connection just accepted: its first head is due a header-read
    /// timeout from now.
    pub(super) fn new(io: IO, bounds: Bounds, state: Arc<ConnectionState>) -> Self {
        let now = Instant::now();
        let due = now + bounds.header_read;
        Self {
            io,
            bounds,
            state,
            head: Some(Head {
                dispatched_before: 0,
                due: Some(due),
            }),
            responded: 0,
            last_write: now,
            timer: Box::pin(tokio::time::sleep_until(due)),
        }
    }

    /// The state its connection's service shares.
    pub(super) fn state(&self) -> Arc<ConnectionState> {
        Arc::clone(&self.state)
    }

    /// Forgets the head being read once hyper has dispatched it.
    fn note_dispatch(&mut self) {
        if let Some(head) = &self.head
            && self.state.dispatched() != head.dispatched_before
        {
            self.head = None;
        }
    }

    /// Notes bytes read: the first ones after a dispatch start a head.
    fn note_read(&mut self) {
        if self.head.is_none() {
            self.head = Some(Head {
                dispatched_before: self.state.dispatched(),
                due: None,
            });
        }
    }

    /// Notes bytes written: the response to the last head has started.
    fn note_write(&mut self) {
        self.responded = self.state.dispatched();
        self.last_write = Instant::now();
    }

    /// Which bound is in force and when it ends: none while a handler runs.
    fn bound(&mut self) -> Option<(Instant, Closed)> {
        self.note_dispatch();
        match &mut self.head {
            Some(head) => {
                let header_read = self.bounds.header_read;
                let due = *head.due.get_or_insert_with(|| Instant::now() + header_read);
                Some((due, Closed::HeaderTimeout))
            }
            None if self.responded < self.state.dispatched() => None,
            None => Some((self.last_write + self.bounds.idle, Closed::IdleTimeout)),
        }
    }

    /// Called when an operation would block: whether the bound in force is
    /// passed (then noted in the state); registers the waker if not.
    fn passed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((due, reason)) = self.bound() else {
            return false;
        };
        if self.timer.deadline() > due {
            self.timer.as_mut().reset(due);
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            if self.timer.deadline() >= due {
                self.state.timed_out(reason);
                return true;
            }
            // Fired at an earlier bound: re-armed for this one.
            self.timer.as_mut().reset(due);
        }
        false
    }

    fn timed_out<T>() -> Poll<io::Result<T>> {
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "connection timed out (header-read or idle timeout)",
        )))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for TimedIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.note_dispatch();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.note_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.passed(cx) => Self::timed_out(),
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> TimedIo<IO> {
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    self.note_write();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Pending if self.passed(cx) => Self::timed_out(),
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for TimedIo<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        this.after_write(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.after_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\r\n";

    const BOUNDS: Bounds = Bounds {
        header_read: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    struct Connection {
        server: TimedIo<DuplexStream>,
        client: DuplexStream,
        state: Arc<ConnectionState>,
    }

    impl Connection {
        fn accept() -> Self {
            let (server, client) = tokio::io::duplex(64);
            let state = Arc::new(ConnectionState::default());
            Self {
                server: TimedIo::new(server, BOUNDS, Arc::clone(&state)),
                client,
                state,
            }
        }

        async fn read(&mut self) -> io::Result<usize> {
            self.server.read(&mut [0; 64]).await
        }

        /// The client sends a whole head; the server reads and dispatches it.
        async fn request(&mut self) {
            self.client
                .write_all(b"GET / HTTP/1.1\r\n\r\n")
                .await
                .unwrap();
            self.read().await.unwrap();
            self.state.dispatched_one();
        }

        /// The server answers and the client reads the answer.
        async fn respond(&mut self) {
            self.server.write_all(RESPONSE).await.unwrap();
            self.client
                .read_exact(&mut [0; RESPONSE.len()])
                .await
                .unwrap();
        }

        /// Reads until the server's read fails; how long that took.
        async fn read_until_timeout(&mut self) -> Duration {
            let start = Instant::now();
            let error = self.read().await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::TimedOut);
            start.elapsed()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_head_is_due_a_header_read_timeout_after_the_accept() {
        let mut connection = Connection::accept();
        assert_eq!(connection.read_until_timeout().await, BOUNDS.header_read);
        assert_eq!(connection.state.closed_for(), Some(Closed::HeaderTimeout));
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_head_is_due_a_header_read_timeout_after_its_first_byte() {
        let mut connection = Connection::accept();
        connection.request().await;
        connection.respond().await;
        tokio::time::advance(BOUNDS.idle / 2).await;
        connection.client.write_all(b"GET / HT").await.unwrap();
        connection.read().await.unwrap();
        assert_eq!(connection.read_until_timeout().await, BOUNDS.header_read);
        assert_eq!(connection.state.closed_for(), Some(Closed::HeaderTimeout));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_an_idle_timeout_after_its_last_write() {
        let mut connection = Connection::accept();
        for _ in 0..3 {
            connection.request().await;
            // Past the header-read timeout: a running handler is not bounded.
            tokio::time::advance(BOUNDS.header_read * 2).await;
            connection.respond().await;
        }
        assert_eq!(connection.read_until_timeout().await, BOUNDS.idle);
        assert_eq!(connection.state.closed_for(), Some(Closed::IdleTimeout));
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_handler_is_not_timed_out() {
        let mut connection = Connection::accept();
        connection.request().await;
        let waited = tokio::time::timeout(BOUNDS.idle * 3, connection.read()).await;
        assert!(waited.is_err(), "the read ended: {waited:?}");
        assert_eq!(connection.state.closed_for(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_closed_an_idle_timeout_after_the_last_write() {
        let mut connection = Connection::accept();
        connection.request().await;
        let start = Instant::now();
        // Fills the 64-byte pipe the client never reads, then blocks.
        let error = connection
            .server
            .write_all(&[b'x'; 1000])
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), BOUNDS.idle);
        assert_eq!(connection.state.closed_for(), Some(Closed::IdleTimeout));
    }
}
