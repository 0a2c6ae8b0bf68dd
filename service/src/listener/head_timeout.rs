//! The header-read timeout: a request head must be complete within
//! `--header-read-timeout` of its first byte — of the accept, for a
//! connection's first request.
//!
//! hyper has one timer for this, `header_read_timeout`, and starts it
//! whenever it waits for a head, idle time included (hyper issues #2355
//! and #3743 ask for a separate idle timeout). A slow-loris defence wants
//! a short bound on reading a head; a keep-alive connection wants a long
//! idle time, longer than a proxy's own (e.g. 60 s), or the proxy reuses a
//! connection the server is closing. So hyper's timer is set to the idle
//! timeout, and this reader adds the short bound, Go's `ReadHeaderTimeout`.
//!
//! It knows where a head starts (the first bytes read after the previous
//! head was dispatched) and where it ends (hyper calls the service, which
//! bumps [`ConnectionState::heads`]). The fast path — a head that arrives
//! whole — reads no clock and arms no timer: the timer starts only when a
//! read after the head's first bytes would block.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::connection::ConnectionState;

/// Reads from `io`, failing with `TimedOut` when a request head takes too long.
pub(super) struct HeadTimeout<IO> {
    io: IO,
    limit: Duration,
    state: Arc<ConnectionState>,
    /// While a head is being read: how many heads had been dispatched when
    /// its first bytes came. A change means it was dispatched.
    reading_head: Option<u64>,
    /// When the head being read must be complete; set at the first read that
    /// would block.
    deadline: Option<Instant>,
    /// Allocated once per connection, at its first slow head.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<IO> HeadTimeout<IO> {
    /// A connection just accepted: its first head is due `limit` from now.
    pub fn new(io: IO, limit: Duration, state: Arc<ConnectionState>) -> Self {
        Self {
            io,
            limit,
            state,
            reading_head: Some(0),
            deadline: Some(Instant::now() + limit),
            timer: None,
        }
    }

    /// Whether the head being read is overdue; registers the waker if not.
    fn overdue(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.limit);
        let timer = match &mut self.timer {
            Some(timer) => {
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                timer
            }
            None => self
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        timer.as_mut().poll(cx).is_ready()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for HeadTimeout<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(dispatched_before) = this.reading_head
            && this.state.heads() != dispatched_before
        {
            this.reading_head = None;
            this.deadline = None;
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.reading_head.is_none() && buf.filled().len() > before {
                    this.reading_head = Some(this.state.heads());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.reading_head.is_some() && this.overdue(cx) => {
                this.state.head_timed_out();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request head not complete within the header-read timeout",
                )))
            }
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for HeadTimeout<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMIT: Duration = Duration::from_secs(10);

    fn pair() -> (
        HeadTimeout<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
        Arc<ConnectionState>,
    ) {
        let (server, client) = tokio::io::duplex(1024);
        let state = Arc::new(ConnectionState::default());
        (
            HeadTimeout::new(server, LIMIT, Arc::clone(&state)),
            client,
            state,
        )
    }

    async fn read_some(reader: &mut HeadTimeout<tokio::io::DuplexStream>) -> io::Result<usize> {
        let mut buf = [0; 64];
        reader.read(&mut buf).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_head_is_due_from_the_accept() {
        let (mut reader, _client, state) = pair();
        let error = read_some(&mut reader).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(state.timed_out());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_after_a_dispatched_head_is_not_bounded_here() {
        let (mut reader, mut client, state) = pair();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        read_some(&mut reader).await.unwrap();
        state.dispatched();
        let idle = tokio::time::timeout(LIMIT * 3, read_some(&mut reader)).await;
        assert!(idle.is_err(), "still waiting after three limits: {idle:?}");
        assert!(!state.timed_out());
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_head_is_due_from_its_first_byte() {
        let (mut reader, mut client, state) = pair();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        read_some(&mut reader).await.unwrap();
        state.dispatched();
        // Idle for longer than the limit, then a head that never ends.
        let _ = tokio::time::timeout(LIMIT * 2, read_some(&mut reader)).await;
        client.write_all(b"GET / HT").await.unwrap();
        read_some(&mut reader).await.unwrap();
        let started = Instant::now();
        let error = read_some(&mut reader).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), LIMIT);
    }
}
