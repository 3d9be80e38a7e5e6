//! Alert messages (RFC 5246 §7.2), carried in records of content type 21.

use crate::dtls::error::DecodeError;
use crate::wire::{Reader, Writer};

/// Whether an alert ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertLevel {
    /// The connection may continue (close_notify is sent at this level too).
    Warning,
    /// The connection is over.
    Fatal,
    /// A level this implementation does not know.
    Unknown(u8),
}

impl AlertLevel {
    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Warning => 1,
            Self::Fatal => 2,
            Self::Unknown(v) => v,
        }
    }

    /// From the wire value.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Warning,
            2 => Self::Fatal,
            v => Self::Unknown(v),
        }
    }
}

macro_rules! descriptions {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        /// Why an alert was sent (RFC 5246 §7.2, RFC 5746, RFC 8446 for `certificate_required`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum AlertDescription {
            $($(#[$doc])* $name,)*
            /// A code this implementation does not know.
            Unknown(u8),
        }

        impl AlertDescription {
            /// The wire value.
            pub fn to_u8(self) -> u8 {
                match self {
                    $(Self::$name => $value,)*
                    Self::Unknown(v) => v,
                }
            }

            /// From the wire value.
            pub fn from_u8(v: u8) -> Self {
                match v {
                    $($value => Self::$name,)*
                    v => Self::Unknown(v),
                }
            }
        }
    };
}

descriptions! {
    CloseNotify = 0,
    UnexpectedMessage = 10,
    BadRecordMac = 20,
    RecordOverflow = 22,
    HandshakeFailure = 40,
    BadCertificate = 42,
    UnsupportedCertificate = 43,
    CertificateRevoked = 44,
    CertificateExpired = 45,
    CertificateUnknown = 46,
    IllegalParameter = 47,
    UnknownCa = 48,
    AccessDenied = 49,
    DecodeError = 50,
    DecryptError = 51,
    ProtocolVersion = 70,
    InsufficientSecurity = 71,
    InternalError = 80,
    InappropriateFallback = 86,
    UserCanceled = 90,
    NoRenegotiation = 100,
    UnsupportedExtension = 110,
    CertificateRequired = 116,
}

impl std::fmt::Display for AlertDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(v) => write!(f, "alert {v}"),
            known => write!(f, "{known:?} ({})", known.to_u8()),
        }
    }
}

/// One alert: a level and a description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Alert {
    /// Warning or fatal.
    pub level: AlertLevel,
    /// What happened.
    pub description: AlertDescription,
}

impl Alert {
    /// The encoded length.
    pub const LEN: usize = 2;

    /// A fatal alert.
    pub fn fatal(description: AlertDescription) -> Self {
        Self {
            level: AlertLevel::Fatal,
            description,
        }
    }

    /// A warning alert.
    pub fn warning(description: AlertDescription) -> Self {
        Self {
            level: AlertLevel::Warning,
            description,
        }
    }

    /// Parses an alert record's plaintext; trailing bytes are an error.
    pub fn parse(data: &[u8]) -> Result<Self, super::Error> {
        let mut r = Reader::new(data);
        let level = AlertLevel::from_u8(r.u8()?);
        let description = AlertDescription::from_u8(r.u8()?);
        if !r.is_empty() {
            return Err(super::Error::Decode(DecodeError::Malformed("alert")));
        }
        Ok(Self { level, description })
    }

    /// Writes the two alert bytes.
    pub fn write(&self, w: &mut Writer<'_>) -> Result<(), crate::wire::Error> {
        w.u8(self.level.to_u8())?;
        w.u8(self.description.to_u8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for v in 0..=255u8 {
            assert_eq!(AlertDescription::from_u8(v).to_u8(), v);
            assert_eq!(AlertLevel::from_u8(v).to_u8(), v);
        }
    }

    #[test]
    fn alert_parse_rejects_trailing_bytes() {
        assert_eq!(
            Alert::parse(&[2, 40]).unwrap(),
            Alert::fatal(AlertDescription::HandshakeFailure)
        );
        assert!(Alert::parse(&[2, 40, 0]).is_err());
        assert!(Alert::parse(&[2]).is_err());
    }
}
