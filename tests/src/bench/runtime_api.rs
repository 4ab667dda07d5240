//! A minimal Lambda Runtime API on loopback: hands out queued events, notes when the function
//! asks for one and when it answers.
//!
//! cargo-lambda's emulator adds its own start-up and routing time; this one is a listener, a
//! thread per connection and hand-parsed HTTP/1.1, so what it measures is the function.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
/// The invocation deadline handed out: far enough that no step is held back by it.
const TIMEOUT: Duration = Duration::from_secs(300);

/// What the function did, and when the server saw it.
#[derive(Debug)]
pub enum Seen {
    /// `GET .../invocation/next`.
    Next(Instant),
    /// `POST .../invocation/<id>/response` (`ok`) or `.../error`, with the body.
    Answer { at: Instant, ok: bool, body: String },
    /// `POST .../init/error`: the function could not start.
    InitError(String),
}

/// State shared by the connection threads.
struct Shared {
    queue: Mutex<VecDeque<String>>,
    ready: Condvar,
    closed: AtomicBool,
    function_arn: String,
}

/// A running Runtime API; stops serving when dropped.
pub struct RuntimeApi {
    pub port: u16,
    shared: Arc<Shared>,
    seen: Receiver<Seen>,
}

impl RuntimeApi {
    /// Listens on a free loopback port, with `events` (JSON texts) queued in order.
    pub fn start(function_arn: &str, events: Vec<String>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind the Runtime API")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            queue: Mutex::new(events.into()),
            ready: Condvar::new(),
            closed: AtomicBool::new(false),
            function_arn: function_arn.to_owned(),
        });
        let (tx, seen) = channel();
        let accepting = Arc::clone(&shared);
        std::thread::spawn(move || accept(&listener, &accepting, &tx));
        Ok(RuntimeApi { port, shared, seen })
    }

    /// The next thing the function did, waiting at most `timeout`.
    pub fn seen(&self, timeout: Duration) -> Result<Seen> {
        self.seen
            .recv_timeout(timeout)
            .with_context(|| format!("the function made no Runtime API request for {timeout:?}"))
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        self.shared.ready.notify_all();
        // Wake the accept loop so it sees `closed`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>, tx: &Sender<Seen>) {
    for stream in listener.incoming() {
        if shared.closed.load(Ordering::Relaxed) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let (shared, tx) = (Arc::clone(shared), tx.clone());
        std::thread::spawn(move || {
            // A connection ends when the function exits or the server closes; either is fine.
            let _ = serve(stream, &shared, &tx);
        });
    }
}

/// Serves one keep-alive connection, request after request.
fn serve(stream: TcpStream, shared: &Shared, tx: &Sender<Seen>) -> Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader)? {
        let at = Instant::now();
        let response = match (method.as_str(), path.as_str()) {
            ("GET", NEXT) => {
                let _ = tx.send(Seen::Next(at));
                let Some(event) = next_event(shared) else { return Ok(()) };
                invocation(&shared.function_arn, &event)
            }
            ("POST", INIT_ERROR) => {
                let _ = tx.send(Seen::InitError(body));
                accepted()
            }
            ("POST", path) if path.starts_with(INVOCATION) && path.ends_with("/response") => {
                let _ = tx.send(Seen::Answer { at, ok: true, body });
                accepted()
            }
            ("POST", path) if path.starts_with(INVOCATION) && path.ends_with("/error") => {
                let _ = tx.send(Seen::Answer { at, ok: false, body });
                accepted()
            }
            _ => response("404 Not Found", "", "{}"),
        };
        writer.write_all(response.as_bytes())?;
    }
    Ok(())
}

/// The next queued event, waiting for one; `None` once the server closes.
fn next_event(shared: &Shared) -> Option<String> {
    let mut queue = shared.queue.lock().ok()?;
    loop {
        if shared.closed.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(event) = queue.pop_front() {
            return Some(event);
        }
        queue = shared.ready.wait_timeout(queue, Duration::from_millis(200)).ok()?.0;
    }
}

/// One request: method, path and body; `None` when the client closed the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Option<(String, String, String)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        bail!("bad request line {line:?}");
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let (mut length, mut chunked) = (0, false);
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        read_exact(reader, length)?
    };
    Ok(Some((method, path, String::from_utf8_lossy(&body).into_owned())))
}

fn read_exact(reader: &mut BufReader<TcpStream>, length: usize) -> Result<Vec<u8>> {
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// A chunked body (hyper sends one for a streamed response).
fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)?;
        if size == 0 {
            // Trailers, then the blank line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        body.extend(read_exact(reader, size + 2)?.drain(..size));
    }
}

/// `200` with an event, as Lambda hands one out.
fn invocation(function_arn: &str, event: &str) -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |now| (now + TIMEOUT).as_millis());
    let headers = format!(
        "Lambda-Runtime-Aws-Request-Id: bench-{n:08}\r\n\
         Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
         Lambda-Runtime-Invoked-Function-Arn: {function_arn}\r\n\
         Lambda-Runtime-Trace-Id: Root=1-00000000-{n:024x};Parent=0000000000000000;Sampled=0\r\n"
    );
    response("200 OK", &headers, event)
}

fn accepted() -> String {
    response("202 Accepted", "", r#"{"status":"OK"}"#)
}

fn response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}
