//! DTLS 1.3 records (RFC 9147 §4): the unified header of protected records, record number
//! encryption, sequence number reconstruction, the inner plaintext with its real content type,
//! and the ACK message (§7).
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+
//! |0|0|1|C|S|L|E E|   C: connection ID present (never negotiated here)
//! +-+-+-+-+-+-+-+-+   S: 16-bit sequence number (else 8-bit)
//! | Sequence (8/16)|  L: 16-bit length present (else the record runs to the datagram's end)
//! +-+-+-+-+-+-+-+-+   E: low two bits of the epoch
//! | Length (16)    |
//! +-+-+-+-+-+-+-+-+
//! ```
//!
//! Epoch 0 (ClientHello, ServerHello, HelloRetryRequest) keeps the 13-byte DTLSPlaintext
//! header of [`crate::dtls::record`]; one datagram may carry both forms, told apart by the
//! first byte.

use crate::dtls::error::{DecodeError, Internal, Misuse, PeerMisbehaved};
use std::ops::Range;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, quic::HeaderProtectionKey};

use super::super::Error;
use super::super::arena::Plaintext;
use super::super::record::{ContentType, MAX_PLAINTEXT, Record, RecordHeader};
use super::key_schedule::TrafficSecret;
use super::suite::Suite13;
use crate::wire::{Reader, Writer};

/// The fixed top bits of a unified header's first byte.
const FIXED_BITS: u8 = 0b0010_0000;
const FIXED_MASK: u8 = 0b1110_0000;
const C_BIT: u8 = 0b0001_0000;
const S_BIT: u8 = 0b0000_1000;
const L_BIT: u8 = 0b0000_0100;
const EPOCH_MASK: u8 = 0b0000_0011;
/// The largest sequence number (48 bits, as in DTLS 1.2: RFC 9147 §4).
pub(crate) const MAX_SEQUENCE: u64 = (1 << 48) - 1;
/// The AEAD tag length of every TLS 1.3 suite we implement.
pub(crate) const TAG_LEN: usize = 16;
/// RFC 9147 §4.2.3: the mask is computed over the first 16 bytes of ciphertext.
const SAMPLE_LEN: usize = 16;
/// The header we write: first byte, 16-bit sequence number, 16-bit length.
pub(crate) const HEADER_LEN: usize = 5;
/// Bytes a protected record adds to its content: header, real content type, tag.
pub(crate) const OVERHEAD: usize = HEADER_LEN + 1 + TAG_LEN;
/// The AES-GCM block: an AEAD input that is not a whole number of blocks costs aws-lc a
/// partial-block path (about 40 ns per seal or open here, whatever the length: 8% of a
/// 1200-byte record, 20% of a 113-byte one).
const GCM_BLOCK: usize = 16;
// `Protection::seal_in_place` writes a whole block after the content: the type, the padding,
// and the rest into the tag's room.
const _: () = assert!(1 + TAG_LEN >= GCM_BLOCK);

/// Whether a record starting with `first` has the unified header (RFC 9147 §4.1: the first
/// byte's top three bits are 001; DTLSPlaintext content types are 20..=26).
pub(crate) fn is_unified(first: u8) -> bool {
    first & FIXED_MASK == FIXED_BITS
}

/// A parsed unified header. The sequence bits are as they were on the wire: encrypted, until
/// [`Protection::open`] removes the mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnifiedHeader {
    /// The low two bits of the epoch.
    pub(crate) epoch_bits: u8,
    /// The low 8 or 16 bits of the sequence number.
    pub(crate) seq_bits: u16,
    /// Whether the sequence field is 16 bits (S).
    pub(crate) long_seq: bool,
    /// The length field, when present (L).
    pub(crate) length: Option<u16>,
}

impl UnifiedHeader {
    /// Bytes on the wire.
    pub(crate) fn len(&self) -> usize {
        1 + if self.long_seq { 2 } else { 1 } + if self.length.is_some() { 2 } else { 0 }
    }

    /// The number of sequence bits carried.
    pub(crate) fn seq_width(&self) -> u32 {
        if self.long_seq { 16 } else { 8 }
    }

    /// Reads a header. A connection ID (C bit) is refused: none is ever negotiated here, so
    /// its length is unknown (RFC 9146 / RFC 9147 §9). Inlined into [`records`], where the
    /// header stays in registers instead of being read back from the stack just after its
    /// fields were written there one by one (a store forwarding stall on every record).
    #[inline]
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Self, Error> {
        let first = r.u8()?;
        if !is_unified(first) {
            return Err(Error::Decode(DecodeError::Malformed(
                "DTLSCiphertext header",
            )));
        }
        if first & C_BIT != 0 {
            return Err(Error::Decode(DecodeError::Malformed(
                "connection ID not negotiated",
            )));
        }
        let long_seq = first & S_BIT != 0;
        let seq_bits = if long_seq {
            r.u16()?
        } else {
            u16::from(r.u8()?)
        };
        let length = if first & L_BIT != 0 {
            Some(r.u16()?)
        } else {
            None
        };
        Ok(Self {
            epoch_bits: first & EPOCH_MASK,
            seq_bits: if long_seq { seq_bits } else { seq_bits & 0xff },
            long_seq,
            length,
        })
    }

    /// Writes the header.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        let mut first = FIXED_BITS | (self.epoch_bits & EPOCH_MASK);
        if self.long_seq {
            first |= S_BIT;
        }
        if self.length.is_some() {
            first |= L_BIT;
        }
        w.u8(first)?;
        if self.long_seq {
            w.u16(self.seq_bits)?;
        } else {
            w.u8(self.seq_bits as u8)?;
        }
        if let Some(len) = self.length {
            w.u16(len)?;
        }
        Ok(())
    }
}

/// RFC 9147 §4.2.2: the full sequence number whose low `width` bits are `low` and which is
/// numerically closest to `expected` (one more than the highest number deprotected so far).
pub(crate) fn reconstruct_seq(expected: u64, low: u64, width: u32) -> u64 {
    let win = 1u64 << width;
    let half = win / 2;
    let mask = win - 1;
    let expected = expected.min(MAX_SEQUENCE + 1);
    let candidate = (expected & !mask) | (low & mask);
    if candidate + half <= expected && candidate + win <= MAX_SEQUENCE {
        candidate + win
    } else if candidate > expected + half && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// One record of a DTLS 1.3 datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnyRecord<'a> {
    /// A DTLSPlaintext record (epoch 0).
    Plaintext(Record<'a>),
    /// A DTLSCiphertext record: its header, the header's bytes (the AEAD additional data once
    /// the sequence number is unmasked) and the encrypted record.
    Ciphertext {
        header: UnifiedHeader,
        raw_header: &'a [u8],
        body: &'a [u8],
    },
}

/// Splits a datagram into records of either form (RFC 9147 §4.1). A record without a length
/// runs to the end of the datagram. A malformed record ends the iteration with an error; the
/// records before it stand.
pub(crate) fn records(datagram: &[u8]) -> impl Iterator<Item = Result<AnyRecord<'_>, Error>> {
    let mut r = Reader::new(datagram);
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || r.is_empty() {
            return None;
        }
        let parsed = (|| {
            let first = r.peek_u8()?;
            if is_unified(first) {
                let start = r.position();
                let header = UnifiedHeader::parse(&mut r)?;
                let raw_header = &datagram[start..r.position()];
                let body = match header.length {
                    Some(n) => r.bytes(usize::from(n))?,
                    None => r.rest(),
                };
                Ok(AnyRecord::Ciphertext {
                    header,
                    raw_header,
                    body,
                })
            } else {
                let header = RecordHeader::parse(&mut r)?;
                let fragment = r.bytes(usize::from(header.length))?;
                Ok(AnyRecord::Plaintext(Record { header, fragment }))
            }
        })();
        failed = parsed.is_err();
        Some(parsed)
    })
}

/// The record protection of one direction and one epoch: the AEAD key and IV, and the
/// record number key.
pub(crate) struct Protection {
    epoch: u64,
    key: LessSafeKey,
    iv: [u8; 12],
    sn: HeaderProtectionKey,
    /// Whether single-part records are padded to whole AES-GCM blocks (not ChaCha20, whose
    /// cost does not step at 16 bytes).
    pad: bool,
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protection")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// A record opened in place: its reconstructed sequence number, real content type, and where
/// the content lies in the buffer given to [`Protection::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opened {
    pub(crate) sequence: u64,
    pub(crate) content_type: ContentType,
    pub(crate) content: Range<usize>,
}

impl Protection {
    /// The keys of `epoch` from its traffic secret (RFC 8446 §7.3, RFC 9147 §4.2.3).
    pub(crate) fn new(suite: Suite13, secret: &TrafficSecret, epoch: u64) -> Result<Self, Error> {
        let (aead, sn_alg) = suite
            .aead()
            .zip(suite.sn_algorithm())
            .ok_or(Error::Internal(Internal::Crypto))?;
        let keys = secret.keys(aead.key_len())?;
        Ok(Self {
            epoch,
            key: LessSafeKey::new(
                UnboundKey::new(aead, keys.key()).map_err(|_| Error::Internal(Internal::Crypto))?,
            ),
            iv: keys.iv,
            sn: HeaderProtectionKey::new(sn_alg, keys.sn_key())
                .map_err(|_| Error::Internal(Internal::Crypto))?,
            pad: suite != Suite13::Chacha20Poly1305Sha256,
        })
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// RFC 8446 §5.3 with RFC 9147 §4: the 64-bit sequence number (without the epoch),
    /// left-padded to the IV's length and XORed with it.
    #[inline]
    fn nonce(&self, sequence: u64) -> Nonce {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(sequence.to_be_bytes()) {
            *b ^= s;
        }
        Nonce::assume_unique_for_key(n)
    }

    /// RFC 9147 §4.2.3: the mask XORed onto the sequence number bytes, from the first 16 bytes
    /// of ciphertext.
    #[inline]
    fn mask(&self, ciphertext: &[u8]) -> Result<[u8; 2], Error> {
        let sample = ciphertext
            .get(..SAMPLE_LEN)
            .ok_or(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))?;
        let m = self
            .sn
            .new_mask(sample)
            .map_err(|_| Error::Internal(Internal::Crypto))?;
        Ok([m[0], m[1]])
    }

    /// The header every record we send carries (RFC 9147 §4: `001` fixed bits, no connection
    /// ID, a 16-bit sequence number and a length, the epoch's low two bits), with the
    /// sequence number not yet masked: it is also the AEAD's additional data.
    #[inline]
    fn header_bytes(&self, sequence: u64, body_len: usize) -> [u8; HEADER_LEN] {
        let [s0, s1] = (sequence as u16).to_be_bytes();
        let [l0, l1] = (body_len as u16).to_be_bytes();
        let first = FIXED_BITS | S_BIT | L_BIT | (self.epoch as u8 & EPOCH_MASK);
        [first, s0, s1, l0, l1]
    }

    /// RFC 9147 §4.2.3: masks the sequence number bytes of a sealed record `head` with the
    /// mask of its first 16 bytes of ciphertext. A record we seal always has the sample (the
    /// content type byte and the tag alone are 17 bytes).
    #[inline]
    fn mask_sealed(&self, head: &mut [u8], rest: &[u8]) -> Result<(), Error> {
        let mask = self.mask(rest)?;
        head[1] ^= mask[0];
        head[2] ^= mask[1];
        Ok(())
    }

    /// Writes one protected record holding the concatenation of `parts` as `content_type`
    /// into the front of `out`: a header with the 16-bit sequence number and the length, the
    /// encrypted DTLSInnerPlaintext (content, the real type, padding as in
    /// [`Protection::seal_one`]) and the tag,
    /// then the sequence number masked. Returns the record's length.
    pub(crate) fn seal(
        &self,
        sequence: u64,
        content_type: ContentType,
        parts: &[&[u8]],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if let [only] = parts {
            return self.seal_one(sequence, content_type, only, out);
        }
        let plain_len: usize = parts.iter().map(|p| p.len()).sum();
        let remaining = out.len();
        let content = out.get_mut(HEADER_LEN..HEADER_LEN + plain_len).ok_or(
            crate::wire::Error::BufferTooSmall {
                needed: OVERHEAD + plain_len,
                remaining,
            },
        )?;
        let mut at = 0;
        for p in parts {
            content[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        self.seal_in_place(sequence, content_type, plain_len, out)
    }

    /// Seals the `plain_len` bytes of content already written at `out[HEADER_LEN..]` where
    /// they lie, as [`Protection::seal`] does: the data path, where SCTP writes its packet
    /// straight into the datagram. One AEAD call over whole blocks (content, type and padding
    /// together), which costs aws-lc less than the two calls of [`Protection::seal_one`]'s
    /// separate extra input. Returns the record's length.
    #[inline]
    pub(crate) fn seal_in_place(
        &self,
        sequence: u64,
        content_type: ContentType,
        plain_len: usize,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let pad = self.padding(plain_len, out.len());
        let (head, rest) = self.record_space(sequence, plain_len, pad, out)?;
        // The type and up to 15 zeros as one block, a store of fixed size rather than a call
        // to fill a few bytes: what passes the padding lands in the tag's room, written below.
        let mut block = [0u8; GCM_BLOCK];
        block[0] = content_type.to_u8();
        rest[plain_len..plain_len + GCM_BLOCK].copy_from_slice(&block);
        let (inner, tag_out) = rest.split_at_mut(plain_len + 1 + pad);
        // RFC 9147 §4: the additional data is the header as sent, but with the sequence number
        // before its encryption.
        let tag = self
            .key
            .seal_in_place_separate_tag(self.nonce(sequence), Aad::from(&*head), inner)
            .map_err(|_| Error::Internal(Internal::Crypto))?;
        tag_out.copy_from_slice(tag.as_ref());
        self.mask_sealed(head, rest)?;
        Ok(head.len() + rest.len())
    }

    /// Seals one piece of content (application data, an alert, an ACK): encrypted as it is
    /// copied, the content type (and padding) riding in the AEAD's extra input, in one pass
    /// over the payload (sealing in place after a copy measured slower).
    ///
    /// RFC 8446 §5.4 lets a sender pad DTLSInnerPlaintext with zeros: with AES-GCM the
    /// content type is followed by the zeros that make the AEAD input whole 16-byte blocks,
    /// when the padded record still fits in `out` (so never past the caller's MTU). Up to 15
    /// bytes on the wire buy a seal and an open without aws-lc's partial-block path, which
    /// costs more than the padding's encryption (see [`GCM_BLOCK`]).
    #[inline]
    pub(crate) fn seal_one(
        &self,
        sequence: u64,
        content_type: ContentType,
        plain: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let pad = self.padding(plain.len(), out.len());
        let (head, rest) = self.record_space(sequence, plain.len(), pad, out)?;
        let (body, type_and_tag) = rest.split_at_mut(plain.len());
        let mut extra = [0u8; GCM_BLOCK];
        extra[0] = content_type.to_u8();
        self.key
            .seal_out_of_place_scatter(
                self.nonce(sequence),
                Aad::from(&*head),
                plain,
                body,
                &extra[..1 + pad],
                type_and_tag,
            )
            .map_err(|_| Error::Internal(Internal::Crypto))?;
        self.mask_sealed(head, rest)?;
        Ok(head.len() + rest.len())
    }

    /// The zeros after the content type that make a record of `plain_len` bytes of content
    /// whole AES-GCM blocks, if the padded record fits in `room` bytes; else none.
    #[inline]
    fn padding(&self, plain_len: usize, room: usize) -> usize {
        let pad = (GCM_BLOCK - (plain_len + 1) % GCM_BLOCK) % GCM_BLOCK;
        if self.pad && HEADER_LEN + plain_len + 1 + pad + TAG_LEN <= room {
            pad
        } else {
            0
        }
    }

    /// Checks the limits, writes the (unmasked) header into the front of `out` and returns
    /// it and the room for the body: `plain_len` bytes of content, the type, `pad` zeros,
    /// the tag.
    #[inline]
    fn record_space<'o>(
        &self,
        sequence: u64,
        plain_len: usize,
        pad: usize,
        out: &'o mut [u8],
    ) -> Result<(&'o mut [u8], &'o mut [u8]), Error> {
        if plain_len > MAX_PLAINTEXT {
            return Err(Error::Misuse(Misuse::DataTooLarge {
                len: plain_len,
                max: MAX_PLAINTEXT,
            }));
        }
        if sequence > MAX_SEQUENCE {
            return Err(Error::Internal(Internal::SequenceExhausted));
        }
        let body_len = plain_len + 1 + pad + TAG_LEN;
        let total = HEADER_LEN + body_len;
        let remaining = out.len();
        let record = out
            .get_mut(..total)
            .ok_or(crate::wire::Error::BufferTooSmall {
                needed: total,
                remaining,
            })?;
        let (head, rest) = record.split_at_mut(HEADER_LEN);
        head.copy_from_slice(&self.header_bytes(sequence, body_len));
        Ok((head, rest))
    }

    /// Unmasks the sequence number in `raw_header` (RFC 9147 §4.2.3) and reconstructs it.
    #[inline]
    fn unmask(
        &self,
        expected: u64,
        header: &UnifiedHeader,
        raw_header: &mut [u8],
        body: &[u8],
    ) -> Result<u64, Error> {
        // RFC 9147 §4.2.3: records shorter than the sample MUST be rejected as failing
        // deprotection.
        if body.len() < SAMPLE_LEN || raw_header.len() != header.len() {
            return Err(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac));
        }
        let mask = self.mask(body)?;
        let low = if header.long_seq {
            raw_header[1] ^= mask[0];
            raw_header[2] ^= mask[1];
            u64::from(u16::from_be_bytes([raw_header[1], raw_header[2]]))
        } else {
            raw_header[1] ^= mask[0];
            u64::from(raw_header[1])
        };
        Ok(reconstruct_seq(expected, low, header.seq_width()))
    }

    /// Opens a record straight into `out`, decrypting as it copies (for data handed on in its
    /// own buffer); `out` is resized to the DTLSInnerPlaintext and the content is its front.
    #[inline]
    pub(crate) fn open_into(
        &self,
        expected: u64,
        header: &UnifiedHeader,
        raw_header: &mut [u8],
        body: &[u8],
        out: &mut impl Plaintext,
    ) -> Result<Opened, Error> {
        let sequence = self.unmask(expected, header, raw_header, body)?;
        let (ciphertext, tag) = body.split_at(body.len() - TAG_LEN);
        let out = out.sized(ciphertext.len());
        self.key
            .open_separate_gather(
                self.nonce(sequence),
                Aad::from(&*raw_header),
                ciphertext,
                tag,
                out,
            )
            .map_err(|_| Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))?;
        let end = out
            .iter()
            .rposition(|&b| b != 0)
            .ok_or(Error::PeerMisbehaved(PeerMisbehaved::UnexpectedMessage(
                "record without a content type",
            )))?;
        Ok(Opened {
            sequence,
            content_type: ContentType::from_u8(out[end]),
            content: 0..end,
        })
    }

    /// Opens a record in place. `header` and `raw_header` come from [`records`]; `expected`
    /// is one more than the highest sequence number deprotected in this epoch. `raw_header`
    /// is rewritten with the unmasked sequence number. The content is trimmed of padding and
    /// its real type read (RFC 8446 §5.4).
    pub(crate) fn open(
        &self,
        expected: u64,
        header: &UnifiedHeader,
        raw_header: &mut [u8],
        body: &mut [u8],
    ) -> Result<Opened, Error> {
        let sequence = self.unmask(expected, header, raw_header, body)?;
        let plain = self
            .key
            .open_in_place(self.nonce(sequence), Aad::from(&*raw_header), body)
            .map_err(|_| Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))?;
        // RFC 8446 §5.4: the real type is the last non-zero byte; a record of zeros only is an
        // unexpected_message.
        let end = plain
            .iter()
            .rposition(|&b| b != 0)
            .ok_or(Error::PeerMisbehaved(PeerMisbehaved::UnexpectedMessage(
                "record without a content type",
            )))?;
        Ok(Opened {
            sequence,
            content_type: ContentType::from_u8(plain[end]),
            content: 0..end,
        })
    }
}

/// RFC 9147 §7: `struct { uint64 epoch; uint64 sequence_number; } RecordNumber;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RecordNumber {
    pub(crate) epoch: u64,
    pub(crate) sequence: u64,
}

/// RFC 9147 §7: `struct { RecordNumber record_numbers<0..2^16-1>; } ACK;`, sent as its own
/// content type (26), listing the records of handshake messages received.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Ack {
    pub(crate) records: Vec<RecordNumber>,
}

/// The most record numbers an ACK can hold (the 16-bit length over 16 bytes each).
pub(crate) const MAX_ACK_RECORDS: usize = 0xffff / 16;

impl Ack {
    pub(crate) fn parse(data: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(data);
        let len = usize::from(r.u16()?);
        if len % 16 != 0 {
            return Err(Error::Decode(DecodeError::Malformed(
                "ACK length not a multiple of 16",
            )));
        }
        let mut list = r.sub(len)?;
        if !r.is_empty() {
            return Err(Error::Decode(DecodeError::Malformed("bytes after ACK")));
        }
        let mut records = Vec::with_capacity(len / 16);
        while !list.is_empty() {
            records.push(RecordNumber {
                epoch: list.u64()?,
                sequence: list.u64()?,
            });
        }
        Ok(Self { records })
    }

    pub(crate) fn len(&self) -> usize {
        2 + 16 * self.records.len()
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        if self.records.len() > MAX_ACK_RECORDS {
            return Err(Error::Decode(DecodeError::Malformed("ACK too long")));
        }
        w.u16((self.records.len() * 16) as u16)?;
        for rn in &self.records {
            w.u64(rn.epoch)?;
            w.u64(rn.sequence)?;
        }
        Ok(())
    }
}

/// Splits `data` into records of either form, opens every protected one with fixed keys of
/// each suite at every expected sequence number in `expected`, and parses each body and the
/// whole input as an ACK: the receive path of the record layer, for the fuzz target and the
/// "any bytes" property test.
pub(crate) fn exercise_receive(data: &[u8], expected: u64) {
    use super::key_schedule::{EarlySecret, LabelPrefix};
    let _ = Ack::parse(data);
    for suite in Suite13::ALL {
        let Ok(secret) = EarlySecret::new(suite.hash(), LabelPrefix::Dtls13)
            .into_handshake(&[0; 32])
            .and_then(|hs| hs.client_traffic(&[0; 48][..suite.hash().len()]))
        else {
            return;
        };
        let Ok(rx) = Protection::new(suite, &secret, 3) else {
            return;
        };
        let mut scratch = Vec::new();
        for rec in records(data) {
            let Ok(rec) = rec else { break };
            match rec {
                AnyRecord::Plaintext(r) => {
                    let _ = Ack::parse(r.fragment);
                }
                AnyRecord::Ciphertext {
                    header,
                    raw_header,
                    body,
                } => {
                    scratch.clear();
                    scratch.extend_from_slice(raw_header);
                    scratch.extend_from_slice(body);
                    let (h, b) = scratch.split_at_mut(raw_header.len());
                    if let Ok(opened) = rx.open(expected, &header, h, b) {
                        let _ = Ack::parse(&b[opened.content]);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
