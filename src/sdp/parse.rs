//! Reading a description: split lines, check the limits, and route each line to the session or
//! the current m-section.

// `Ok(vec.push(..))` keeps each arm of the line dispatch on one line.
#![allow(clippy::unit_arg)]

use super::session::{Bandwidth, Connection, Origin, SessionDescription, Timing};
use super::values::{number, tokens};
use super::{
    Attribute, Error, ErrorKind, MAX_ATTRIBUTES, MAX_LINE_LEN, MAX_LINES, MAX_MEDIA, MAX_SDP_LEN,
    MediaDescription, MediaKind,
};

/// Session-level lines seen so far; the required ones are checked at the end.
#[derive(Default)]
struct Session {
    version_seen: bool,
    origin: Option<Origin>,
    session_name: Option<String>,
    information: Option<String>,
    uri: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    connection: Option<Connection>,
    bandwidths: Vec<Bandwidth>,
    times: Vec<Timing>,
    time_zones: Option<String>,
    encryption_key: Option<String>,
    attributes: Vec<Attribute>,
}

/// Sets a single-valued field, refusing a second occurrence.
fn once<T>(slot: &mut Option<T>, value: T, typ: char, line: usize) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::new(line, ErrorKind::Duplicate(typ)));
    }
    *slot = Some(value);
    Ok(())
}

fn push_attribute(attributes: &mut Vec<Attribute>, value: &str, line: usize) -> Result<(), Error> {
    if attributes.len() >= MAX_ATTRIBUTES {
        return Err(Error::new(line, ErrorKind::TooManyAttributes));
    }
    attributes.push(Attribute::parse_line(value, line)?);
    Ok(())
}

fn parse_media_line(value: &str, line: usize) -> Result<MediaDescription, Error> {
    let bad = |reason| Error::new(line, ErrorKind::BadMedia(reason));
    let mut t = tokens(value);
    let (Some(kind), Some(port), Some(protocol)) = (t.next(), t.next(), t.next()) else {
        return Err(bad("expected <media> <port> <proto> <fmt>..."));
    };
    let (port, port_count) = match port.split_once('/') {
        Some((port, count)) => (
            port,
            Some(number(count).ok_or_else(|| bad("bad port count"))?),
        ),
        None => (port, None),
    };
    let port = number(port).ok_or_else(|| bad("bad port"))?;
    let mut media = MediaDescription::new(MediaKind::from_name(kind), port, protocol, &[]);
    media.port_count = port_count;
    // RFC 8866 requires at least one format; rejected sections from some stacks have none.
    media.formats = t.map(str::to_string).collect();
    Ok(media)
}

impl SessionDescription {
    /// Parses a session description. Lines may end in CRLF or LF; see the
    /// [module documentation](super) for what is tolerated and what is refused.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() > MAX_SDP_LEN {
            return Err(Error::new(1, ErrorKind::TooLong));
        }
        let mut session = Session::default();
        let mut media: Vec<MediaDescription> = Vec::new();
        let mut last_line = 0;
        for (index, raw) in text.split('\n').enumerate() {
            let n = index + 1;
            last_line = n;
            if n > MAX_LINES {
                return Err(Error::new(n, ErrorKind::TooManyLines));
            }
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.len() > MAX_LINE_LEN {
                return Err(Error::new(n, ErrorKind::LineTooLong));
            }
            if line.trim_matches([' ', '\t']).is_empty() {
                continue;
            }
            let bytes = line.as_bytes();
            if bytes.len() < 2 || bytes[1] != b'=' {
                return Err(Error::new(n, ErrorKind::MalformedLine));
            }
            // bytes[1] is '=', so bytes[0] is a whole ASCII character and index 2 a boundary.
            let typ = char::from(bytes[0]);
            let value = &line[2..];
            if !session.version_seen {
                if typ != 'v' {
                    return Err(Error::new(n, ErrorKind::MissingVersion));
                }
                if value.trim_end_matches(' ') != "0" {
                    return Err(Error::new(
                        n,
                        ErrorKind::UnsupportedVersion(value.to_string()),
                    ));
                }
                session.version_seen = true;
                continue;
            }
            if !"vosiuepcbtrzkam".contains(typ) {
                return Err(Error::new(n, ErrorKind::UnknownLineType(typ)));
            }
            if typ == 'm' {
                if media.len() >= MAX_MEDIA {
                    return Err(Error::new(n, ErrorKind::TooManyMedia));
                }
                media.push(parse_media_line(value, n)?);
                continue;
            }
            match media.last_mut() {
                Some(m) => media_line(m, typ, value, n)?,
                None => session_line(&mut session, typ, value, n)?,
            }
        }
        let missing = |typ| Error::new(last_line + 1, ErrorKind::Missing(typ));
        if !session.version_seen {
            return Err(Error::new(1, ErrorKind::MissingVersion));
        }
        if session.times.is_empty() {
            return Err(missing('t'));
        }
        Ok(Self {
            version: 0,
            origin: session.origin.ok_or_else(|| missing('o'))?,
            session_name: session.session_name.ok_or_else(|| missing('s'))?,
            information: session.information,
            uri: session.uri,
            emails: session.emails,
            phones: session.phones,
            connection: session.connection,
            bandwidths: session.bandwidths,
            times: session.times,
            time_zones: session.time_zones,
            encryption_key: session.encryption_key,
            attributes: session.attributes,
            media,
        })
    }
}

fn session_line(s: &mut Session, typ: char, value: &str, n: usize) -> Result<(), Error> {
    let err = |kind| Error::new(n, kind);
    let text = || value.to_string();
    match typ {
        'o' => once(
            &mut s.origin,
            Origin::parse(value).ok_or(err(ErrorKind::BadOrigin))?,
            'o',
            n,
        ),
        's' => once(&mut s.session_name, text(), 's', n),
        'i' => once(&mut s.information, text(), 'i', n),
        'u' => once(&mut s.uri, text(), 'u', n),
        'e' => Ok(s.emails.push(text())),
        'p' => Ok(s.phones.push(text())),
        'c' => once(&mut s.connection, connection(value, n)?, 'c', n),
        'b' => Ok(s.bandwidths.push(bandwidth(value, n)?)),
        't' => Ok(s
            .times
            .push(Timing::parse(value).ok_or(err(ErrorKind::BadTiming))?)),
        'r' => match s.times.last_mut() {
            Some(t) => Ok(t.repeats.push(text())),
            None => Err(err(ErrorKind::Misplaced('r'))),
        },
        'z' => once(&mut s.time_zones, text(), 'z', n),
        'k' => once(&mut s.encryption_key, text(), 'k', n),
        'a' => push_attribute(&mut s.attributes, value, n),
        _ => Err(err(ErrorKind::Misplaced(typ))),
    }
}

fn media_line(m: &mut MediaDescription, typ: char, value: &str, n: usize) -> Result<(), Error> {
    match typ {
        'i' => once(&mut m.information, value.to_string(), 'i', n),
        'c' => once(&mut m.connection, connection(value, n)?, 'c', n),
        'b' => Ok(m.bandwidths.push(bandwidth(value, n)?)),
        'k' => once(&mut m.encryption_key, value.to_string(), 'k', n),
        'a' => push_attribute(&mut m.attributes, value, n),
        _ => Err(Error::new(n, ErrorKind::Misplaced(typ))),
    }
}

fn connection(value: &str, n: usize) -> Result<Connection, Error> {
    Connection::parse(value).ok_or(Error::new(n, ErrorKind::BadConnection))
}

fn bandwidth(value: &str, n: usize) -> Result<Bandwidth, Error> {
    Bandwidth::parse(value).ok_or(Error::new(n, ErrorKind::BadBandwidth))
}
