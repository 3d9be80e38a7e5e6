//! The values of `a=rid` (RFC 8851) and `a=simulcast` (RFC 8853).

use std::fmt;

use super::values::{Reason, RidDirection, key_values, some_if_nonempty, split_first, tokens};

/// `a=rid:<id> <send|recv> [<params>]` (RFC 8851 §10).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rid {
    /// The restriction identifier.
    pub id: String,
    /// Whether it restricts what is sent or received.
    pub direction: RidDirection,
    /// `pt=...;max-width=...` and the like, as written.
    pub params: Option<String>,
}

impl Rid {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let (id, rest) = split_first(s);
        if id.is_empty() {
            return Err("missing rid");
        }
        let (dir, params) = split_first(rest);
        let direction = RidDirection::from_keyword(dir).ok_or("direction is not send or recv")?;
        Ok(Self {
            id: id.to_string(),
            direction,
            params: some_if_nonempty(params),
        })
    }

    /// The `;`-separated parameters as `(key, value)`: `pt`, `max-width`, `depend`, ...
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        key_values(self.params.as_deref().unwrap_or(""), ';')
    }
}

impl fmt::Display for Rid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.direction)?;
        match &self.params {
            Some(p) => write!(f, " {p}"),
            None => Ok(()),
        }
    }
}

/// One rid in an `a=simulcast` list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SimulcastRid {
    /// The rid.
    pub id: String,
    /// Written `~id`: the stream is offered paused (RFC 8853 §5.1).
    pub paused: bool,
}

/// One simulcast stream: alternative rids, any one of which may be used (RFC 8853 §5.1).
pub type SimulcastStream = Vec<SimulcastRid>;

/// `a=simulcast:[send <streams>] [recv <streams>]` (RFC 8853 §5.1); streams are separated by
/// `;`, alternatives within a stream by `,`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Simulcast {
    /// The streams sent, in order of preference; empty if there is no `send` part.
    pub send: Vec<SimulcastStream>,
    /// The streams received; empty if there is no `recv` part.
    pub recv: Vec<SimulcastStream>,
}

impl Simulcast {
    pub(crate) fn parse(s: &str) -> Result<Self, Reason> {
        let mut out = Self::default();
        let mut t = tokens(s);
        while let Some(dir) = t.next() {
            let list = t.next().ok_or("direction without streams")?;
            let slot = match dir {
                "send" if out.send.is_empty() => &mut out.send,
                "recv" if out.recv.is_empty() => &mut out.recv,
                _ => return Err("expected one send and/or one recv list"),
            };
            *slot = list
                .split(';')
                .map(parse_stream)
                .collect::<Option<_>>()
                .ok_or("bad rid list")?;
        }
        if out.send.is_empty() && out.recv.is_empty() {
            return Err("no streams");
        }
        Ok(out)
    }
}

fn parse_stream(s: &str) -> Option<SimulcastStream> {
    s.split(',')
        .map(|r| {
            let (paused, id) = match r.strip_prefix('~') {
                Some(id) => (true, id),
                None => (false, r),
            };
            (!id.is_empty()).then(|| SimulcastRid {
                id: id.to_string(),
                paused,
            })
        })
        .collect()
}

fn write_streams(f: &mut fmt::Formatter<'_>, streams: &[SimulcastStream]) -> fmt::Result {
    for (i, stream) in streams.iter().enumerate() {
        f.write_str(if i == 0 { "" } else { ";" })?;
        for (j, rid) in stream.iter().enumerate() {
            let sep = if j == 0 { "" } else { "," };
            write!(f, "{sep}{}{}", if rid.paused { "~" } else { "" }, rid.id)?;
        }
    }
    Ok(())
}

impl fmt::Display for Simulcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.send.is_empty() {
            f.write_str("send ")?;
            write_streams(f, &self.send)?;
        }
        if !self.recv.is_empty() {
            f.write_str(if self.send.is_empty() {
                "recv "
            } else {
                " recv "
            })?;
            write_streams(f, &self.recv)?;
        }
        Ok(())
    }
}
