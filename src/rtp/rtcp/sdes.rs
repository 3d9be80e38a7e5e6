//! Source description, goodbye and application-defined packets (RFC 3550 §6.5-§6.7).

use smallvec::SmallVec;

use super::{Body, PT_APP, PT_BYE, PT_SDES, expect, split, wire_methods};
use crate::rtp::Error;
use crate::wire::{Reader, Writer};

/// RFC 3550 §6.5: an SDES item type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdesType {
    /// 1: canonical end-point identifier.
    Cname,
    /// 2: user name.
    Name,
    /// 3: e-mail address.
    Email,
    /// 4: phone number.
    Phone,
    /// 5: geographic location.
    Location,
    /// 6: application or tool name.
    Tool,
    /// 7: notice/status.
    Note,
    /// 8: private extensions.
    Private,
    /// Any other non-zero value (0 ends an item list and is never an item).
    Unknown(u8),
}

impl SdesType {
    /// The type for a wire value (not 0).
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Cname,
            2 => Self::Name,
            3 => Self::Email,
            4 => Self::Phone,
            5 => Self::Location,
            6 => Self::Tool,
            7 => Self::Note,
            8 => Self::Private,
            v => Self::Unknown(v),
        }
    }

    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Cname => 1,
            Self::Name => 2,
            Self::Email => 3,
            Self::Phone => 4,
            Self::Location => 5,
            Self::Tool => 6,
            Self::Note => 7,
            Self::Private => 8,
            Self::Unknown(v) => v,
        }
    }
}

/// One SDES item: a type and up to 255 bytes of (UTF-8, RFC 3550 §6.5) text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SdesItem {
    /// The item type.
    pub kind: SdesType,
    /// The item text as sent.
    pub value: Vec<u8>,
}

/// The items describing one source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SdesChunk {
    /// The source (SSRC or CSRC).
    pub ssrc: u32,
    /// Its items.
    pub items: SmallVec<[SdesItem; 1]>,
}

impl SdesChunk {
    /// The CNAME item's text, if any.
    pub fn cname(&self) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|i| i.kind == SdesType::Cname)
            .map(|i| i.value.as_slice())
    }

    fn len(&self) -> usize {
        // RFC 3550 §6.5: items, then a null octet ending the list, padded to 32 bits.
        let items: usize = self.items.iter().map(|i| 2 + i.value.len()).sum();
        4 + (items + 1).next_multiple_of(4)
    }
}

/// RFC 3550 §6.5: a source description packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Sdes {
    /// Up to 31 chunks.
    pub chunks: SmallVec<[SdesChunk; 1]>,
}

impl Sdes {
    /// One chunk with a CNAME, the usual SDES of a compound packet.
    pub fn cname(ssrc: u32, cname: &str) -> Self {
        let item = SdesItem {
            kind: SdesType::Cname,
            value: cname.as_bytes().to_vec(),
        };
        Self {
            chunks: smallvec::smallvec![SdesChunk {
                ssrc,
                items: smallvec::smallvec![item],
            }],
        }
    }

    /// Reads one SDES packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_SDES, None)?;
        let mut r = Reader::new(s.body);
        let mut chunks = SmallVec::new();
        for _ in 0..s.count {
            let start = r.position();
            let ssrc = r.u32()?;
            let mut items = SmallVec::new();
            loop {
                let kind = r.u8()?;
                if kind == 0 {
                    break;
                }
                let len = r.u8()?;
                items.push(SdesItem {
                    kind: SdesType::from_u8(kind),
                    value: r.bytes(usize::from(len))?.to_vec(),
                });
            }
            // RFC 3550 §6.5: null octets pad the chunk to the next 32-bit boundary.
            let used = r.position() - start;
            r.skip(used.next_multiple_of(4) - used)?;
            chunks.push(SdesChunk { ssrc, items });
        }
        Ok(Self { chunks })
    }
}

impl Body for Sdes {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        let n = u8::try_from(self.chunks.len()).map_err(|_| Error::TooLarge("SDES chunks"))?;
        Ok((PT_SDES, n))
    }
    fn body_len(&self) -> usize {
        self.chunks.iter().map(SdesChunk::len).sum()
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        for c in &self.chunks {
            let start = w.position();
            w.u32(c.ssrc)?;
            for item in &c.items {
                let len =
                    u8::try_from(item.value.len()).map_err(|_| Error::TooLarge("SDES item"))?;
                if item.kind.to_u8() == 0 {
                    return Err(Error::Malformed("SDES item type 0"));
                }
                w.u8(item.kind.to_u8())?;
                w.u8(len)?;
                w.bytes(&item.value)?;
            }
            w.zeros(c.len() - (w.position() - start))?;
        }
        Ok(())
    }
}
wire_methods!(Sdes);

/// RFC 3550 §6.6: a goodbye packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Bye {
    /// The sources leaving (up to 31).
    pub sources: SmallVec<[u32; 1]>,
    /// An optional reason for leaving (up to 255 bytes of text).
    pub reason: Option<Vec<u8>>,
}

impl Bye {
    /// Reads one BYE packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_BYE, None)?;
        let mut r = Reader::new(s.body);
        if r.remaining() < 4 * usize::from(s.count) {
            return Err(Error::TooShort);
        }
        let sources = (0..s.count).map(|_| r.u32()).collect::<Result<_, _>>()?;
        // RFC 3550 §6.6: an optional length-prefixed reason follows the SSRC list.
        let reason = match r.is_empty() {
            true => None,
            false => {
                let len = r.u8()?;
                Some(r.bytes(usize::from(len))?.to_vec())
            }
        };
        Ok(Self { sources, reason })
    }
}

impl Body for Bye {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        let n = u8::try_from(self.sources.len()).map_err(|_| Error::TooLarge("BYE sources"))?;
        Ok((PT_BYE, n))
    }
    fn body_len(&self) -> usize {
        4 * self.sources.len()
            + self
                .reason
                .as_ref()
                .map_or(0, |r| (1 + r.len()).next_multiple_of(4))
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        for s in &self.sources {
            w.u32(*s)?;
        }
        if let Some(reason) = &self.reason {
            let len = u8::try_from(reason.len()).map_err(|_| Error::TooLarge("BYE reason"))?;
            w.u8(len)?;
            w.bytes(reason)?;
            let used = 1 + reason.len();
            w.zeros(used.next_multiple_of(4) - used)?;
        }
        Ok(())
    }
}
wire_methods!(Bye);

/// RFC 3550 §6.7: an application-defined packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct App {
    /// The 5-bit subtype.
    pub subtype: u8,
    /// The sender's SSRC.
    pub ssrc: u32,
    /// The 4-character name.
    pub name: [u8; 4],
    /// Application-dependent data.
    pub data: Vec<u8>,
}

impl App {
    /// Reads one APP packet.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let s = split(buf)?;
        expect(&s, PT_APP, None)?;
        let mut r = Reader::new(s.body);
        Ok(Self {
            subtype: s.count,
            ssrc: r.u32()?,
            name: r.array()?,
            data: r.rest().to_vec(),
        })
    }
}

impl Body for App {
    fn pt_count(&self) -> Result<(u8, u8), Error> {
        Ok((PT_APP, self.subtype))
    }
    fn body_len(&self) -> usize {
        8 + self.data.len()
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u32(self.ssrc)?;
        w.bytes(&self.name)?;
        Ok(w.bytes(&self.data)?)
    }
}
wire_methods!(App);
