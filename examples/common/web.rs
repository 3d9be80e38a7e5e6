//! The HTTP side of the examples that serve it (`data-channels --serve`, `pion-to-pion`):
//! hyper's HTTP/1.1 server on tokio, with the limits a server facing the public needs. Its
//! address may be IPv4 or IPv6 ([`listen_addrs`]: `127.0.0.1:8080`, `[::1]:8080`, `::1`,
//! `:8080` for every interface of both families).
//!
//! - **Connections**: at most [`Limits::max_connections`] at once, each a tokio task (no thread
//!   per connection). Past the cap a connection gets a canned `503` with `Retry-After` and is
//!   closed without its request being read.
//! - **Per client IP**: at most [`Limits::max_connections_per_ip`] of those from one address,
//!   so one client cannot take every slot; past it, a canned `429 Too Many Requests` with
//!   `Retry-After` (RFC 6585 §4). The handler learns the client's address from the request's
//!   [`ClientAddr`] extension, for limits of its own.
//! - **Header and idle time**: a request head must arrive whole within
//!   [`Limits::header_timeout`], counted from the first poll for it, so a client that sends a
//!   byte now and then (slow loris), or a kept-alive connection that says nothing, is closed
//!   when it runs out.
//! - **Sizes**: the head is bounded by [`Limits::max_header`] (hyper answers `431`), the body by
//!   [`Limits::max_body`] (`413`, before reading it when `content-length` says so).
//! - **Body time**: the body must arrive within [`Limits::body_timeout`] (`408`).
//!
//! What went wrong is counted in [`Stats`], and [`Stats::report`] prints what changed since its
//! last call, so a flood makes one line a second, not one line a connection.
#![allow(dead_code)] // each example uses its part

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// A response with its whole body.
pub type Reply = Response<Full<Bytes>>;

/// What one client may cost the server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections served at once from one client IP address.
    pub max_connections_per_ip: usize,
    /// Time to send a whole request head; also how long an idle kept-alive connection lives.
    pub header_timeout: Duration,
    /// Time to send the body once the head is in.
    pub body_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header: usize,
    /// Largest request body, in bytes (an SDP offer is a few KiB).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            max_connections_per_ip: 32,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            max_header: 16 * 1024,
            max_body: 64 * 1024,
        }
    }
}

/// Counters of what the server did and refused.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted and served.
    pub accepted: AtomicU64,
    /// Connections refused with 503 because `max_connections` were open.
    pub refused_busy: AtomicU64,
    /// Connections refused with 429 because `max_connections_per_ip` were open from their IP.
    pub refused_per_ip: AtomicU64,
    /// `accept()` failures (out of file descriptors, ...).
    pub accept_errors: AtomicU64,
    /// Connections closed because their request head did not arrive in time.
    pub header_timeouts: AtomicU64,
    /// Requests whose body did not arrive in time (408).
    pub body_timeouts: AtomicU64,
    /// Requests refused for a head or body over the limits (431, 413).
    pub too_large: AtomicU64,
    /// Connections that ended with another HTTP error (malformed request, reset, ...).
    pub other_errors: AtomicU64,
    last: std::sync::Mutex<[u64; 8]>,
}

impl Stats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Prints one line with what changed since the last call, if anything did.
    pub fn report(&self) {
        let now = [
            &self.accepted,
            &self.refused_busy,
            &self.refused_per_ip,
            &self.accept_errors,
            &self.header_timeouts,
            &self.body_timeouts,
            &self.too_large,
            &self.other_errors,
        ]
        .map(|c| c.load(Ordering::Relaxed));
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let d: Vec<u64> = now.iter().zip(last.iter()).map(|(n, l)| n - l).collect();
        *last = now;
        // Accepted connections alone are business as usual, not worth a line.
        if d[1..].iter().all(|&x| x == 0) {
            return;
        }
        let names = [
            "accepted",
            "refused (connection cap)",
            "refused (per-IP connection cap)",
            "accept errors",
            "closed (head too slow)",
            "body too slow",
            "too large",
            "other errors",
        ];
        let parts: Vec<String> = d
            .iter()
            .zip(names)
            .filter(|(n, _)| **n > 0)
            .map(|(n, name)| format!("{n} {name}"))
            .collect();
        eprintln!("http: since the last report: {}", parts.join(", "));
    }
}

/// A response with a body and its content type; no caching, as everything here is per session.
pub fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A plain-text error response.
pub fn text(status: StatusCode, message: impl Into<String>) -> Reply {
    let mut m = message.into();
    m.push('\n');
    reply(status, "text/plain; charset=utf-8", m)
}

/// `503 Service Unavailable` with `Retry-After: seconds` (RFC 9110 §10.2.3).
pub fn busy(seconds: u64, message: impl Into<String>) -> Reply {
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    r
}

/// `429 Too Many Requests` with `Retry-After: seconds` (RFC 6585 §4): one client asks too much.
pub fn too_many(seconds: u64, message: impl Into<String>) -> Reply {
    let mut r = text(StatusCode::TOO_MANY_REQUESTS, message);
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    r
}

/// The client's address, in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Open connections per client IP. A [`PerIpSlot`] holds one and gives it back when dropped.
#[derive(Debug, Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

struct PerIpSlot(Arc<PerIp>, IpAddr);

impl PerIp {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<PerIpSlot> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PerIpSlot(self.clone(), ip))
    }
}

impl Drop for PerIpSlot {
    fn drop(&mut self) {
        let mut m = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                // The map holds only addresses with open connections: bounded by the cap.
                m.remove(&self.1);
            }
        }
    }
}

/// What a connection past the cap gets before it is closed: its request is never read.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: text/plain\r\n\
content-length: 28\r\nconnection: close\r\n\r\ntoo many connections, retry\n";

/// Connections past the cap being told so at once, at most; past this they are just closed.
const REFUSALS: usize = 256;

/// What a connection past its IP's cap gets.
const TOO_MANY: &[u8] =
    b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-type: text/plain\r\n\
content-length: 37\r\nconnection: close\r\n\r\ntoo many connections from you, retry\n";

/// Tells a connection past the cap to come back later. Closing a socket with the request unread
/// makes the kernel send a reset, which can reach the client before the 503 does: so the 503 is
/// followed by a half close, and what the client sends is read and dropped for up to a second.
fn refuse(stream: tokio::net::TcpStream, refusals: &Arc<Semaphore>, response: &'static [u8]) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let mut stream = stream;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let drain = async {
            stream.write_all(response).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, io::Error>(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    });
}

/// Serves `listener` for ever, calling `handler` with each request whose body arrived whole
/// within the limits. Returns only if the listener fails for good.
pub async fn serve<H, F>(listener: TcpListener, limits: Limits, stats: Arc<Stats>, handler: H)
where
    H: Fn(Request<Bytes>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let limits = Arc::new(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS));
    let per_ip = Arc::new(PerIp::default());
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Usually EMFILE: report it, and give connections time to end instead of
                // spinning on accept.
                Stats::bump(&stats.accept_errors);
                eprintln!("http: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            Stats::bump(&stats.refused_busy);
            refuse(stream, &refusals, BUSY);
            continue;
        };
        // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d: count it as a.b.c.d.
        let ip = client.ip().to_canonical();
        let Some(slot) = per_ip.take(ip, limits.max_connections_per_ip) else {
            Stats::bump(&stats.refused_per_ip);
            refuse(stream, &refusals, TOO_MANY);
            continue;
        };
        Stats::bump(&stats.accepted);
        let (limits, stats, handler) = (limits.clone(), stats.clone(), handler.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _slot = slot;
            let service = {
                let (limits, stats) = (limits.clone(), stats.clone());
                service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ClientAddr(client));
                    let (limits, stats, handler) = (limits.clone(), stats.clone(), handler.clone());
                    async move { Ok::<_, Infallible>(request(req, &limits, &stats, handler).await) }
                })
            };
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_header_size(limits.max_header)
                .max_buf_size(limits.max_header.max(8192))
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                note_error(&stats, &e);
            }
        });
    }
}

fn note_error(stats: &Stats, e: &hyper::Error) {
    if e.is_timeout() {
        Stats::bump(&stats.header_timeouts);
    } else if e.is_parse_too_large() {
        Stats::bump(&stats.too_large);
    } else {
        Stats::bump(&stats.other_errors);
    }
}

/// Reads the body within the limits, then hands the request to the handler.
async fn request<H, F>(
    req: Request<hyper::body::Incoming>,
    limits: &Limits,
    stats: &Stats,
    handler: H,
) -> Reply
where
    H: Fn(Request<Bytes>) -> F,
    F: Future<Output = Reply>,
{
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        Stats::bump(&stats.too_large);
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body may be at most {} bytes", limits.max_body),
        );
    }
    let collected = tokio::time::timeout(
        limits.body_timeout,
        Limited::new(body, limits.max_body).collect(),
    );
    let body = match collected.await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Stats::bump(&stats.too_large);
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body may be at most {} bytes", limits.max_body),
            );
        }
        Ok(Err(e)) => {
            Stats::bump(&stats.other_errors);
            return text(StatusCode::BAD_REQUEST, format!("reading the body: {e}"));
        }
        Err(_) => {
            Stats::bump(&stats.body_timeouts);
            return text(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {:?}", limits.body_timeout),
            );
        }
    };
    handler(Request::from_parts(parts, body)).await
}

/// Binds `addr` for HTTP, saying which address failed if it does.
pub async fn listen(addr: &str) -> io::Result<TcpListener> {
    let addrs = listen_addrs(addr)?;
    TcpListener::bind(&addrs[..])
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("listen on {addr} for HTTP: {e}")))
}

/// What an HTTP address option means, best first: `IP:PORT` or `[IPv6]:PORT` itself; a bare
/// `IP` (`127.0.0.1`, `::1`, `[::1]`) on port 8080; `:PORT` (as Go writes it) every interface,
/// IPv6's unspecified address first (on Linux it takes IPv4 too, as IPv4-mapped addresses)
/// and IPv4's for a host without IPv6; `HOST:PORT` what the name resolves to.
pub fn listen_addrs(addr: &str) -> io::Result<Vec<SocketAddr>> {
    use std::net::{Ipv4Addr, Ipv6Addr, ToSocketAddrs};
    let bare = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, 8080)]);
    }
    if let Some(port) = addr.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
        return Ok(vec![
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        ]);
    }
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{addr}: {e} (IP, IP:PORT, [IPv6]:PORT or :PORT, e.g. [::1]:8080)"),
            )
        })?
        .collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} names no address"),
        ));
    }
    Ok(addrs)
}

/// A response as [`fetch`] returns it.
#[derive(Debug)]
pub struct Fetched {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: hyper::HeaderMap,
    /// Its whole body.
    pub body: Bytes,
}

/// One request to `url` (`http://host:port/path`) on a connection of its own, through hyper's
/// client, with the whole exchange bounded by `limit`.
pub async fn fetch(
    method: hyper::Method,
    url: &str,
    content_type: &str,
    body: impl Into<Bytes>,
    limit: Duration,
) -> io::Result<Fetched> {
    let what = format!("{method} {url}");
    let fail = |e: &dyn std::fmt::Display| io::Error::other(format!("{what}: {e}"));
    let exchange = async {
        let uri: hyper::Uri = url.parse().map_err(|e| fail(&e))?;
        let authority = uri
            .authority()
            .ok_or_else(|| fail(&"no host in the URL"))?
            .clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| fail(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| fail(&e))?;
        let driving = tokio::spawn(conn);
        let request = Request::builder()
            .method(method.clone())
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(hyper::header::HOST, authority.as_str())
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(body.into()))
            .map_err(|e| fail(&e))?;
        let response = sender.send_request(request).await.map_err(|e| fail(&e))?;
        let (parts, incoming) = response.into_parts();
        let body = Limited::new(incoming, 1 << 20)
            .collect()
            .await
            .map_err(|e| fail(&e))?
            .to_bytes();
        driving.abort();
        Ok(Fetched {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| fail(&format!("no response within {limit:?}")))?
}
