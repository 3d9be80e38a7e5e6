//! Address options shared by the examples, IPv4 and IPv6 alike.
//!
//! An address option takes `IP` (the example's default port), `IP:PORT`, or for IPv6 `[IP]:PORT`
//! (`::1`, `[::1]:8080`, `fd00::1`, `[fd00::1]:0`). Addresses print as Rust's `SocketAddr`
//! prints them, so an IPv6 URL comes out right: `http://[::1]:8080/`. (`web::listen_addrs`
//! also takes Go's `:PORT` for every interface of both families, for HTTP only: a UDP socket
//! whose address is an ICE candidate needs an address the peer reaches.)
//!
//! [`ServerArgs`] is the option parsing and UDP setup that the browser-facing servers
//! (`broadcast`, `swap-tracks`) share: `--bind` for HTTP, `--udp` for every session's socket.
#![allow(dead_code)] // each example uses its part

use std::net::{IpAddr, SocketAddr};

/// `value` of `option` as a socket address: `IP` takes `default_port`, `IP:PORT` and
/// `[IPv6]:PORT` their own, `[IPv6]` the default port too.
pub fn socket_addr(option: &str, value: &str, default_port: u16) -> Result<SocketAddr, String> {
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    value.parse().map_err(|_| {
        format!(
            "{option} {value:?}: not an address (IP, IP:PORT or [IPv6]:PORT, e.g. 127.0.0.1:8080, \
             ::1, [::1]:8080)"
        )
    })
}

/// Refuses an unspecified address (`0.0.0.0`, `::`) for a socket whose address becomes an ICE
/// host candidate: the peer must be able to reach it.
pub fn reachable(what: &str, addr: SocketAddr) -> Result<SocketAddr, String> {
    if addr.ip().is_unspecified() {
        return Err(format!(
            "{what} {addr}: give the address the peer reaches (such as 127.0.0.1, ::1 or a LAN \
             address), not an unspecified one: it becomes the ICE candidate"
        ));
    }
    Ok(addr)
}

/// The options of a server that serves a page over HTTP and holds every session on one UDP
/// socket.
#[derive(Debug, Clone, Copy)]
pub struct ServerArgs {
    /// `--bind IP[:PORT]`: the HTTP address (default `127.0.0.1:8080`; port 0 picks one).
    pub http: SocketAddr,
    /// `--udp ADDR`: the sessions' UDP socket (default: the HTTP address's IP, any port).
    pub udp: Option<SocketAddr>,
}

/// Takes the value that follows an option (an error when there is none).
pub type NextValue<'a> = dyn FnMut() -> Result<String, String> + 'a;

/// What [`ServerArgs`] says about its options in a `--help`.
pub const SERVER_OPTIONS: &str =
    "  --bind IP[:PORT]  HTTP address (default 127.0.0.1:8080; ::1 or [::1]:8080 for IPv6)
  --udp ADDR        the sessions' UDP socket (default: --bind's IP, any port), e.g. [::1]:0";

impl ServerArgs {
    /// Parses the command line: `--bind`, `--udp` and `-h`/`--help` here, any other option
    /// through `extra(option, value)`, which takes a value only by calling `value` and returns
    /// whether it knew the option. `usage` is printed for `--help` and after an error.
    pub fn parse(
        usage: &str,
        mut extra: impl FnMut(&str, &mut NextValue<'_>) -> Result<bool, String>,
    ) -> Result<Self, String> {
        let mut a = Self {
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            udp: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or(format!("{arg} needs a value\n{usage}"));
            match arg.as_str() {
                "--bind" => a.http = socket_addr("--bind", &value()?, 8080)?,
                "--udp" => a.udp = Some(socket_addr("--udp", &value()?, 0)?),
                "-h" | "--help" => {
                    println!("{usage}\n{SERVER_OPTIONS}");
                    std::process::exit(0);
                }
                _ => {
                    if !extra(&arg, &mut value)? {
                        return Err(format!("unknown argument {arg}\n{usage}"));
                    }
                }
            }
        }
        Ok(a)
    }

    /// [`ServerArgs::parse`] for a server with one option of its own, `option SECS`: the
    /// addresses, and the option's duration if it was given.
    pub fn parse_seconds(
        usage: &str,
        option: &str,
    ) -> Result<(Self, Option<std::time::Duration>), String> {
        let mut secs = None;
        let a = Self::parse(usage, |arg, value| {
            if arg != option {
                return Ok(false);
            }
            let v = value()?;
            let read = v
                .parse::<f64>()
                .map_err(|e| e.to_string())
                .and_then(|s| std::time::Duration::try_from_secs_f64(s).map_err(|e| e.to_string()));
            secs = Some(read.map_err(|e| format!("{option} {v:?}: {e}"))?);
            Ok(true)
        })?;
        Ok((a, secs))
    }

    /// Binds the sessions' UDP socket: `--udp`, or the IP the HTTP listener got (`local`) with
    /// any port. Refuses an unspecified address: it becomes every session's ICE candidate.
    pub async fn udp_socket(&self, local: SocketAddr) -> Result<tokio::net::UdpSocket, String> {
        let addr = reachable("UDP on", self.udp.unwrap_or(SocketAddr::new(local.ip(), 0)))
            .map_err(|e| format!("{e} (--bind IP or --udp ADDR)"))?;
        tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(|e| format!("bind the UDP socket on {addr}: {e}"))
    }
}
