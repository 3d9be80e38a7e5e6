//! DNS messages as mDNS uses them (RFC 1035 §4.1, RFC 6762 §18): header, questions and
//! resource records. A, AAAA and NSEC data are parsed; every other type is kept raw.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Error;
use super::name::Name;
use crate::wire::{Reader, Writer};

/// RFC 1035 §4.1.1: the header is 12 bytes.
pub const HEADER_LEN: usize = 12;
/// The most questions plus records read from one message. A 9000-byte mDNS message (RFC 6762
/// §17) holds far fewer useful entries; the cap bounds the memory a hostile one can claim
/// through compression (each entry's name may expand to 255 bytes).
pub const MAX_ENTRIES: usize = 128;

const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const OPCODE_SHIFT: u16 = 11;
/// The top bit of a question's class: unicast response wanted (RFC 6762 §5.4).
const QU_BIT: u16 = 0x8000;
/// The top bit of a record's class: cache flush, the record is unique (RFC 6762 §10.2).
const CACHE_FLUSH_BIT: u16 = 0x8000;

/// A resource record or query type (RFC 1035 §3.2.2, RFC 3596, RFC 4034).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// An IPv4 address (1).
    A,
    /// A domain name pointer (12).
    Ptr,
    /// Text strings (16).
    Txt,
    /// An IPv6 address (28).
    Aaaa,
    /// A service location (33).
    Srv,
    /// Which types exist for a name (47): mDNS's negative answer (RFC 6762 §6.1).
    Nsec,
    /// A query for every type (255).
    Any,
    /// Any other type, kept.
    Unknown(u16),
}

impl RecordType {
    /// The type number.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::A => 1,
            Self::Ptr => 12,
            Self::Txt => 16,
            Self::Aaaa => 28,
            Self::Srv => 33,
            Self::Nsec => 47,
            Self::Any => 255,
            Self::Unknown(n) => n,
        }
    }
}

impl From<u16> for RecordType {
    fn from(n: u16) -> Self {
        match n {
            1 => Self::A,
            12 => Self::Ptr,
            16 => Self::Txt,
            28 => Self::Aaaa,
            33 => Self::Srv,
            47 => Self::Nsec,
            255 => Self::Any,
            n => Self::Unknown(n),
        }
    }
}

/// A class (RFC 1035 §3.2.4), without mDNS's top bit (QU or cache-flush).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// The Internet (1), the only class mDNS uses.
    In,
    /// Any class (255), in questions.
    Any,
    /// Any other 15-bit class, kept.
    Unknown(u16),
}

impl Class {
    /// The 15-bit class number.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::In => 1,
            Self::Any => 255,
            Self::Unknown(n) => n & 0x7fff,
        }
    }

    pub(crate) fn from_u15(n: u16) -> Self {
        match n & 0x7fff {
            1 => Self::In,
            255 => Self::Any,
            n => Self::Unknown(n),
        }
    }
}

/// The 12-byte message header (RFC 1035 §4.1.1); the counts are implied by the sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// The query identifier. RFC 6762 §18.1: zero in multicast queries and responses; a
    /// legacy unicast query's id is echoed.
    pub id: u16,
    /// The second 16 bits: QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE.
    pub flags: u16,
}

impl Header {
    /// The header of a multicast query: id 0, all flags clear.
    pub fn query() -> Self {
        Self { id: 0, flags: 0 }
    }

    /// The header of a response: QR and AA set (RFC 6762 §18.2, §18.4).
    pub fn response(id: u16) -> Self {
        Self {
            id,
            flags: FLAG_QR | FLAG_AA,
        }
    }

    /// QR: a response rather than a query.
    pub fn is_response(&self) -> bool {
        self.flags & FLAG_QR != 0
    }

    /// The 4-bit opcode. RFC 6762 §18.3: messages with a non-zero opcode MUST be ignored.
    pub fn opcode(&self) -> u8 {
        ((self.flags >> OPCODE_SHIFT) & 0xf) as u8
    }

    /// TC: in a query, more known answers follow (RFC 6762 §18.5).
    pub fn truncated(&self) -> bool {
        self.flags & FLAG_TC != 0
    }

    /// The 4-bit response code. RFC 6762 §18.11: messages with a non-zero rcode MUST be
    /// ignored.
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
}

/// A question (RFC 1035 §4.1.2) with mDNS's unicast-response bit (RFC 6762 §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name asked about.
    pub name: Name,
    /// The type asked for.
    pub qtype: RecordType,
    /// The class asked for.
    pub class: Class,
    /// QU: the querier would like a unicast response (RFC 6762 §5.4).
    pub unicast_response: bool,
}

impl Question {
    fn wire_len(&self) -> usize {
        self.name.wire_len() + 4
    }
}

/// The data of a resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    /// An A record.
    A(Ipv4Addr),
    /// An AAAA record (RFC 3596).
    Aaaa(Ipv6Addr),
    /// An NSEC record (RFC 4034 §4): the next name (the owner itself in mDNS, RFC 6762 §6.1)
    /// and the raw type bitmap blocks.
    Nsec {
        /// The next domain name.
        next: Name,
        /// The type bit maps field as on the wire.
        bitmap: Vec<u8>,
    },
    /// Any other type, or a malformed A/AAAA/NSEC body, kept as the raw RDATA. Compression
    /// pointers inside it (PTR, SRV) are left unresolved.
    Raw(Vec<u8>),
}

impl RecordData {
    fn wire_len(&self) -> usize {
        match self {
            Self::A(_) => 4,
            Self::Aaaa(_) => 16,
            Self::Nsec { next, bitmap } => next.wire_len() + bitmap.len(),
            Self::Raw(raw) => raw.len(),
        }
    }

    /// NSEC data for `name` saying only `types` exist (RFC 6762 §6.1: the next name is the
    /// owner; only window block 0, for types below 256, is written).
    pub fn nsec(name: Name, types: &[RecordType]) -> Self {
        let mut bits = [0u8; 32];
        let mut top = 0;
        for t in types {
            let n = t.to_u16();
            if n < 256 {
                bits[n as usize / 8] |= 0x80 >> (n % 8);
                top = top.max(n as usize / 8 + 1);
            }
        }
        let mut bitmap = vec![0, top as u8];
        bitmap.extend_from_slice(&bits[..top]);
        Self::Nsec { next: name, bitmap }
    }

    /// The types an NSEC record's bitmap lists (RFC 4034 §4.1.2); empty for other data or a
    /// malformed bitmap.
    pub fn nsec_types(&self) -> Vec<RecordType> {
        let Self::Nsec { bitmap, .. } = self else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut r = Reader::new(bitmap);
        while !r.is_empty() {
            let (Ok(window), Ok(len)) = (r.u8(), r.u8()) else {
                return Vec::new();
            };
            let Ok(bits) = r.bytes(len as usize) else {
                return Vec::new();
            };
            for (i, b) in bits.iter().enumerate() {
                for bit in 0..8 {
                    if b & (0x80 >> bit) != 0 {
                        let n = (window as usize) << 8 | (i * 8 + bit);
                        out.push(RecordType::from(n as u16));
                    }
                }
            }
        }
        out
    }
}

/// A resource record (RFC 1035 §4.1.3) with mDNS's cache-flush bit (RFC 6762 §10.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner name.
    pub name: Name,
    /// The type, as on the wire (kept even when the data is raw).
    pub rtype: RecordType,
    /// The class.
    pub class: Class,
    /// The cache-flush bit: the record is unique to its owner (RFC 6762 §10.2).
    pub cache_flush: bool,
    /// Seconds to keep the record; 0 is a goodbye (RFC 6762 §10.1).
    pub ttl: u32,
    /// The data.
    pub data: RecordData,
}

impl Record {
    fn wire_len(&self) -> usize {
        self.name.wire_len() + 10 + self.data.wire_len()
    }
}

/// A DNS message: header and four sections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// The question section.
    pub questions: Vec<Question>,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section (a probe's proposed records, RFC 6762 §8.2).
    pub authorities: Vec<Record>,
    /// The additional section.
    pub additionals: Vec<Record>,
}

impl Message {
    /// Parses a message. Total: any bytes give a message or a typed error. Bytes after the
    /// last record are ignored.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(buf);
        let header = Header {
            id: r.u16()?,
            flags: r.u16()?,
        };
        let counts = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        if total > MAX_ENTRIES {
            return Err(Error::TooManyEntries(total));
        }
        let mut at = HEADER_LEN;
        let mut questions = Vec::with_capacity(counts[0] as usize);
        for _ in 0..counts[0] {
            let (name, next) = Name::read(buf, at)?;
            let mut r = Reader::new(buf.get(next..).ok_or(Error::Truncated)?);
            let qtype = RecordType::from(r.u16()?);
            let class = r.u16()?;
            questions.push(Question {
                name,
                qtype,
                class: Class::from_u15(class),
                unicast_response: class & QU_BIT != 0,
            });
            at = next + 4;
        }
        let mut sections: [Vec<Record>; 3] = Default::default();
        for (section, &count) in sections.iter_mut().zip(&counts[1..]) {
            section.reserve(count as usize);
            for _ in 0..count {
                let (record, next) = read_record(buf, at)?;
                section.push(record);
                at = next;
            }
        }
        let [answers, authorities, additionals] = sections;
        Ok(Self {
            header,
            questions,
            answers,
            authorities,
            additionals,
        })
    }

    /// The length [`write`](Self::write) needs (names uncompressed).
    pub fn len(&self) -> usize {
        HEADER_LEN
            + self.questions.iter().map(Question::wire_len).sum::<usize>()
            + self.records().map(Record::wire_len).sum::<usize>()
    }

    /// Whether the message has no questions and no records.
    pub fn is_empty(&self) -> bool {
        self.questions.is_empty() && self.records().next().is_none()
    }

    /// Every record: answers, authorities, additionals.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.answers
            .iter()
            .chain(&self.authorities)
            .chain(&self.additionals)
    }

    /// Writes the message into `buf` without name compression (RFC 1035 §4.1.4 makes it
    /// optional) and returns its length.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let sections = [
            self.questions.len(),
            self.answers.len(),
            self.authorities.len(),
            self.additionals.len(),
        ];
        if sections.iter().any(|&n| n > u16::MAX as usize) {
            return Err(Error::TooManyEntries(sections.iter().sum()));
        }
        let mut w = Writer::new(buf);
        w.u16(self.header.id)?;
        w.u16(self.header.flags)?;
        for n in sections {
            w.u16(n as u16)?;
        }
        for q in &self.questions {
            q.name.write(&mut w)?;
            w.u16(q.qtype.to_u16())?;
            let qu = if q.unicast_response { QU_BIT } else { 0 };
            w.u16(q.class.to_u16() | qu)?;
        }
        for rec in self.records() {
            rec.name.write(&mut w)?;
            w.u16(rec.rtype.to_u16())?;
            let flush = if rec.cache_flush { CACHE_FLUSH_BIT } else { 0 };
            w.u16(rec.class.to_u16() | flush)?;
            w.u32(rec.ttl)?;
            let len = rec.data.wire_len();
            w.u16(u16::try_from(len).map_err(|_| Error::RecordTooLong)?)?;
            match &rec.data {
                RecordData::A(ip) => w.bytes(&ip.octets())?,
                RecordData::Aaaa(ip) => w.bytes(&ip.octets())?,
                RecordData::Nsec { next, bitmap } => {
                    next.write(&mut w)?;
                    w.bytes(bitmap)?;
                }
                RecordData::Raw(raw) => w.bytes(raw)?,
            }
        }
        Ok(w.position())
    }
}

fn read_record(buf: &[u8], at: usize) -> Result<(Record, usize), Error> {
    let (name, next) = Name::read(buf, at)?;
    let mut r = Reader::new(buf.get(next..).ok_or(Error::Truncated)?);
    let rtype = RecordType::from(r.u16()?);
    let class = r.u16()?;
    let ttl = r.u32()?;
    let len = r.u16()? as usize;
    let start = next + 10;
    let rdata = r.bytes(len)?;
    let data = match rtype {
        RecordType::A if len == 4 => {
            RecordData::A(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]))
        }
        RecordType::Aaaa if len == 16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(rdata);
            RecordData::Aaaa(Ipv6Addr::from(o))
        }
        RecordType::Nsec => match Name::read(buf, start) {
            // The next name may be compressed; the bitmap is what follows it in the RDATA.
            Ok((next_name, after)) if after <= start + len => RecordData::Nsec {
                next: next_name,
                bitmap: buf[after..start + len].to_vec(),
            },
            _ => RecordData::Raw(rdata.to_vec()),
        },
        _ => RecordData::Raw(rdata.to_vec()),
    };
    let record = Record {
        name,
        rtype,
        class: Class::from_u15(class),
        cache_flush: class & CACHE_FLUSH_BIT != 0,
        ttl,
        data,
    };
    Ok((record, start + len))
}
