//! A plain HTTP/1.1 client on a `std::net::TcpStream`, so the tests see
//! exactly what goes over the socket: the status, the headers, and a
//! chunked body line by line, told apart from a clean end (the terminating
//! chunk), a cut (EOF or reset without it) and silence (nothing in time).

#![allow(dead_code)] // Each test file uses part of it.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use apiserver_emu::ApiServer;
use serde_json::Value;

/// How long a test waits for something that should come.
pub const PATIENCE: Duration = Duration::from_secs(5);
/// How long a test listens to be sure nothing comes.
pub const QUIET: Duration = Duration::from_millis(400);

/// What reading a watch's next line found.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// One newline-terminated JSON event.
    Event(Value),
    /// The terminating chunk: the server ended the stream cleanly.
    End,
    /// The connection closed or reset without the terminating chunk.
    Cut,
    /// Nothing within the time given.
    Nothing,
}

/// An answered request whose body is read as it comes.
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    stream: TcpStream,
    /// Bytes read from the socket and not yet decoded.
    raw: Vec<u8>,
    /// Decoded body bytes not yet taken as lines.
    body: Vec<u8>,
    chunked: bool,
    /// The terminating chunk (or the whole `Content-Length`) was read.
    ended: bool,
}

/// `GET path_and_query` on the server; returns once the head is read.
pub fn get(server: &ApiServer, path_and_query: &str) -> Response {
    let address = server.url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).expect("connect");
    write!(
        stream,
        "GET {path_and_query} HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\n\r\n"
    )
    .expect("send the request");
    stream.set_read_timeout(Some(PATIENCE)).expect("a timeout");
    let mut raw = Vec::new();
    let head_end = loop {
        if let Some(at) = find(&raw, b"\r\n\r\n") {
            break at;
        }
        let mut buffer = [0; 4096];
        let read = stream.read(&mut buffer).expect("read the head");
        assert!(read > 0, "the connection closed before the head");
        raw.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8(raw[..head_end].to_vec()).expect("a UTF-8 head");
    raw.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        stream,
        raw,
        body: Vec::new(),
        chunked: false,
        ended: false,
    };
    response.chunked = response
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
    response.decode();
    response
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }

    /// The whole body as one JSON value (a list, an object, a `Status`).
    pub fn json(mut self) -> Value {
        while !self.ended {
            match self.fill(PATIENCE) {
                Line::Nothing => panic!("the body did not end in time"),
                Line::Cut => panic!("the body was cut"),
                _ => {}
            }
        }
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The next line of a watch, waiting at most `within`.
    pub fn next_line(&mut self, within: Duration) -> Line {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.body.iter().position(|&byte| byte == b'\n') {
                let line: Vec<u8> = self.body.drain(..=at).collect();
                return Line::Event(serde_json::from_slice(&line).expect("a JSON line"));
            }
            if self.ended {
                return Line::End;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Line::Nothing;
            }
            match self.fill(left) {
                Line::Event(_) => {}
                other => return other,
            }
        }
    }

    /// The next line, which must be an event; returns its object after
    /// checking its type.
    pub fn expect_event(&mut self, kind: &str) -> Value {
        match self.next_line(PATIENCE) {
            Line::Event(event) => {
                assert_eq!(event["type"], kind, "{event}");
                event["object"].clone()
            }
            other => panic!("expected a {kind} event, got {other:?}"),
        }
    }

    /// Reads once from the socket; `Event` (meaning "more bytes") or what
    /// stopped it.
    fn fill(&mut self, within: Duration) -> Line {
        let mut buffer = [0; 4096];
        // A zero timeout means "block forever" to std.
        let within = within.max(Duration::from_millis(1));
        self.stream
            .set_read_timeout(Some(within))
            .expect("a timeout");
        match self.stream.read(&mut buffer) {
            Ok(0) => Line::Cut,
            Ok(read) => {
                self.raw.extend_from_slice(&buffer[..read]);
                self.decode();
                Line::Event(Value::Null)
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Line::Nothing
            }
            Err(_) => Line::Cut,
        }
    }

    /// Moves what can be decoded from `raw` into `body`.
    fn decode(&mut self) {
        if !self.chunked {
            self.body.append(&mut self.raw);
            let length = self
                .header("content-length")
                .and_then(|length| length.parse().ok());
            self.ended = length.is_some_and(|length: usize| self.body.len() >= length);
            return;
        }
        while !self.ended {
            let Some(line_end) = find(&self.raw, b"\r\n") else {
                return;
            };
            let size = std::str::from_utf8(&self.raw[..line_end])
                .ok()
                .and_then(|size| usize::from_str_radix(size.trim(), 16).ok())
                .expect("a chunk size");
            if size == 0 {
                // No trailers are sent: the last chunk is `0\r\n\r\n`.
                self.ended = true;
                return;
            }
            let data = line_end + 2;
            if self.raw.len() < data + size + 2 {
                return;
            }
            self.body.extend_from_slice(&self.raw[data..data + size]);
            self.raw.drain(..data + size + 2);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Waits until `condition` holds, or panics naming `what`.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
