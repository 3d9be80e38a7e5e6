//! Writing a description: CRLF-terminated lines in the order of RFC 8866 §5.

use std::fmt;

use super::{MediaDescription, SessionDescription};

fn line(f: &mut fmt::Formatter<'_>, typ: char, value: impl fmt::Display) -> fmt::Result {
    write!(f, "{typ}={value}\r\n")
}

fn optional(f: &mut fmt::Formatter<'_>, typ: char, value: &Option<String>) -> fmt::Result {
    value.iter().try_for_each(|v| line(f, typ, v))
}

fn all<T: fmt::Display>(f: &mut fmt::Formatter<'_>, typ: char, values: &[T]) -> fmt::Result {
    values.iter().try_for_each(|v| line(f, typ, v))
}

impl fmt::Display for SessionDescription {
    /// Writes `v o s i? u? e* p* c? b* (t r*)+ z? k? a*`, then each m-section.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        line(f, 'v', self.version)?;
        line(f, 'o', &self.origin)?;
        line(f, 's', &self.session_name)?;
        optional(f, 'i', &self.information)?;
        optional(f, 'u', &self.uri)?;
        all(f, 'e', &self.emails)?;
        all(f, 'p', &self.phones)?;
        self.connection.iter().try_for_each(|c| line(f, 'c', c))?;
        all(f, 'b', &self.bandwidths)?;
        for timing in &self.times {
            write!(f, "t={} {}\r\n", timing.start, timing.stop)?;
            all(f, 'r', &timing.repeats)?;
        }
        optional(f, 'z', &self.time_zones)?;
        optional(f, 'k', &self.encryption_key)?;
        all(f, 'a', &self.attributes)?;
        self.media.iter().try_for_each(|m| write!(f, "{m}"))
    }
}

impl fmt::Display for MediaDescription {
    /// Writes `m i? c? b* k? a*`, each line CRLF-terminated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.kind, self.port)?;
        if let Some(count) = self.port_count {
            write!(f, "/{count}")?;
        }
        write!(f, " {}", self.protocol)?;
        self.formats
            .iter()
            .try_for_each(|fmt| write!(f, " {fmt}"))?;
        f.write_str("\r\n")?;
        optional(f, 'i', &self.information)?;
        self.connection.iter().try_for_each(|c| line(f, 'c', c))?;
        all(f, 'b', &self.bandwidths)?;
        optional(f, 'k', &self.encryption_key)?;
        all(f, 'a', &self.attributes)
    }
}
