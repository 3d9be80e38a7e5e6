//! The DTLS record layer (RFC 6347 §4.1): record headers, epochs, 48-bit sequence numbers,
//! AEAD protection and replay detection.
//!
//! ```text
//! struct {
//!     ContentType type;          // 1
//!     ProtocolVersion version;   // 2
//!     uint16 epoch;              // 2
//!     uint48 sequence_number;    // 6
//!     uint16 length;             // 2
//!     opaque fragment[length];
//! } DTLSPlaintext / DTLSCiphertext;
//! ```
//!
//! DTLS 1.3 (RFC 9147) adds a second, "unified" header form and per-epoch keys beyond 1; the
//! header carries a [`Version`] and the layer keeps keys per epoch so that form can be added
//! beside this one.

use crate::dtls::error::{Internal, Misuse, PeerMisbehaved};
use std::ops::Range;

use super::Error;
use super::arena::Plaintext;
use super::crypto::{EpochKeys, RecordCipher};
use crate::wire::{Reader, ReplayWindow, Writer};

/// Bytes in a DTLS 1.2 record header.
pub const HEADER_LEN: usize = 13;
/// The largest plaintext a record may carry (RFC 5246 §6.2.1).
pub const MAX_PLAINTEXT: usize = 1 << 14;
/// The largest sequence number (RFC 6347 §4.1: 48 bits).
const MAX_SEQUENCE: u64 = (1 << 48) - 1;
/// RFC 6347 §4.1.2.6 suggests a window of at least 32; 64 costs one word.
const REPLAY_WINDOW: usize = 64;

/// What a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// ChangeCipherSpec (20).
    ChangeCipherSpec,
    /// Alert (21).
    Alert,
    /// Handshake (22).
    Handshake,
    /// Application data (23).
    ApplicationData,
    /// Anything else (heartbeat, DTLS 1.3 ACK, garbage).
    Unknown(u8),
}

impl ContentType {
    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::ChangeCipherSpec => 20,
            Self::Alert => 21,
            Self::Handshake => 22,
            Self::ApplicationData => 23,
            Self::Unknown(v) => v,
        }
    }

    /// From the wire value.
    pub fn from_u8(v: u8) -> Self {
        match v {
            20 => Self::ChangeCipherSpec,
            21 => Self::Alert,
            22 => Self::Handshake,
            23 => Self::ApplicationData,
            v => Self::Unknown(v),
        }
    }
}

/// A DTLS protocol version as it appears on the wire (one's complement of the TLS numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// DTLS 1.0 (0xfeff): still used in the record header of a first ClientHello and in
    /// HelloVerifyRequest (RFC 6347 §4.2.1).
    Dtls10,
    /// DTLS 1.2 (0xfefd).
    Dtls12,
    /// DTLS 1.3 (0xfefc), seen only inside supported_versions.
    Dtls13,
    /// Anything else.
    Unknown(u16),
}

impl Version {
    /// The wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::Dtls10 => 0xfeff,
            Self::Dtls12 => 0xfefd,
            Self::Dtls13 => 0xfefc,
            Self::Unknown(v) => v,
        }
    }

    /// From the wire value.
    pub fn from_u16(v: u16) -> Self {
        match v {
            0xfeff => Self::Dtls10,
            0xfefd => Self::Dtls12,
            0xfefc => Self::Dtls13,
            v => Self::Unknown(v),
        }
    }
}

/// A parsed DTLS 1.2 record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// What the record carries.
    pub content_type: ContentType,
    /// The record-layer version.
    pub version: Version,
    /// The epoch: 0 before ChangeCipherSpec, 1 after.
    pub epoch: u16,
    /// The 48-bit sequence number within the epoch.
    pub sequence: u64,
    /// Length of the fragment that follows.
    pub length: u16,
}

impl RecordHeader {
    /// Reads a header.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self::from_bytes(&r.array()?))
    }

    /// Writes the header.
    pub fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.bytes(&self.to_bytes())?;
        Ok(())
    }

    /// The header from its 13 bytes: one bounds check for the whole header, as every record
    /// of the data path goes through here.
    pub fn from_bytes(b: &[u8; HEADER_LEN]) -> Self {
        Self {
            content_type: ContentType::from_u8(b[0]),
            version: Version::from_u16(u16::from_be_bytes([b[1], b[2]])),
            epoch: u16::from_be_bytes([b[3], b[4]]),
            sequence: u64::from_be_bytes([0, 0, b[5], b[6], b[7], b[8], b[9], b[10]]),
            length: u16::from_be_bytes([b[11], b[12]]),
        }
    }

    /// The header's 13 bytes. A sequence number past 48 bits keeps its low 48.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.content_type.to_u8();
        b[1..3].copy_from_slice(&self.version.to_u16().to_be_bytes());
        b[3..5].copy_from_slice(&self.epoch.to_be_bytes());
        b[5..11].copy_from_slice(&self.sequence.to_be_bytes()[2..]);
        b[11..13].copy_from_slice(&self.length.to_be_bytes());
        b
    }

    /// Epoch and sequence as the 64-bit `seq_num` of the AEAD additional data.
    pub fn seq64(&self) -> u64 {
        (u64::from(self.epoch) << 48) | (self.sequence & MAX_SEQUENCE)
    }

    /// The additional data without the plaintext length: seq_num, type, version.
    fn aad_prefix(&self) -> [u8; 11] {
        let mut a = [0u8; 11];
        a[..8].copy_from_slice(&self.seq64().to_be_bytes());
        a[8] = self.content_type.to_u8();
        a[9..].copy_from_slice(&self.version.to_u16().to_be_bytes());
        a
    }
}

/// One record of a datagram: its header and (still protected) fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The header.
    pub header: RecordHeader,
    /// The fragment, protected when the epoch is above 0.
    pub fragment: &'a [u8],
}

/// Iterates over the records of a datagram (RFC 6347 §4.1.1: several records may share one).
/// A record whose length runs past the datagram ends the iteration with an error; the records
/// before it stand.
pub fn records(datagram: &[u8]) -> impl Iterator<Item = Result<Record<'_>, Error>> {
    let mut r = Reader::new(datagram);
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || r.is_empty() {
            return None;
        }
        let parsed = RecordHeader::parse(&mut r).and_then(|header| {
            let fragment = r.bytes(usize::from(header.length))?;
            Ok(Record { header, fragment })
        });
        failed = parsed.is_err();
        Some(parsed)
    })
}

/// Both directions of the record layer: the epoch we write in, sequence numbers, keys, and the
/// replay window of the protected read epoch.
#[derive(Debug)]
pub(crate) struct RecordLayer {
    version: Version,
    write_epoch: u16,
    /// Next sequence number to send, per epoch (DTLS 1.2 uses epochs 0 and 1).
    write_seq: [u64; 2],
    write_cipher: Option<RecordCipher>,
    read_cipher: Option<RecordCipher>,
    replay: ReplayWindow,
}

impl RecordLayer {
    pub(crate) fn new() -> Self {
        Self {
            version: Version::Dtls12,
            write_epoch: 0,
            write_seq: [0; 2],
            write_cipher: None,
            read_cipher: None,
            replay: ReplayWindow::new(REPLAY_WINDOW),
        }
    }

    /// Installs epoch 1 keys for both directions. Reading switches at once (records of epoch
    /// 1 can be opened from now on); writing switches at [`RecordLayer::start_writing_epoch1`].
    pub(crate) fn install_keys(&mut self, keys: EpochKeys, client: bool) {
        let (write, read) = if client {
            (keys.client_write, keys.server_write)
        } else {
            (keys.server_write, keys.client_write)
        };
        self.write_cipher = Some(write);
        self.read_cipher = Some(read);
    }

    /// Whether epoch 1 can be read.
    pub(crate) fn can_read(&self, epoch: u16) -> bool {
        match epoch {
            0 => true,
            1 => self.read_cipher.is_some(),
            _ => false,
        }
    }

    pub(crate) fn write_epoch(&self) -> u16 {
        self.write_epoch
    }

    pub(crate) fn start_writing_epoch1(&mut self) {
        if self.write_cipher.is_some() {
            self.write_epoch = 1;
        }
    }

    /// Raises epoch 0's next sequence number to at least `seq` (a server answering a
    /// ClientHello continues from the client's number, RFC 6347 §4.2.1).
    pub(crate) fn bump_epoch0_seq(&mut self, seq: u64) {
        self.write_seq[0] = self.write_seq[0].max(seq);
    }

    /// Plaintext bytes a record of `epoch` can carry when the record must fit in `room` bytes.
    pub(crate) fn room_for(&self, epoch: u16, room: usize) -> usize {
        room.saturating_sub(HEADER_LEN + self.overhead(epoch))
    }

    /// The protection overhead of `epoch`.
    pub(crate) fn overhead(&self, epoch: u16) -> usize {
        match (epoch, &self.write_cipher) {
            (1, Some(c)) => c.overhead(),
            _ => 0,
        }
    }

    /// Writes one record holding the concatenation of `parts` into the front of `out`, sealing
    /// it when `epoch` is protected. Returns the record's length.
    pub(crate) fn seal(
        &mut self,
        epoch: u16,
        content_type: ContentType,
        parts: &[&[u8]],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let plain_len: usize = parts.iter().map(|p| p.len()).sum();
        if plain_len > MAX_PLAINTEXT {
            return Err(Error::Misuse(Misuse::DataTooLarge {
                len: plain_len,
                max: MAX_PLAINTEXT,
            }));
        }
        let cipher = match epoch {
            0 => None,
            1 => Some(
                self.write_cipher
                    .as_ref()
                    .ok_or(Error::Internal(Internal::Crypto))?,
            ),
            _ => return Err(Error::Internal(Internal::Crypto)),
        };
        let overhead = cipher.map_or(0, |c| c.overhead());
        let total = HEADER_LEN + overhead + plain_len;
        if total > out.len() {
            return Err(crate::wire::Error::BufferTooSmall {
                needed: total,
                remaining: out.len(),
            }
            .into());
        }
        let slot = &mut self.write_seq[usize::from(epoch)];
        let sequence = *slot;
        if sequence > MAX_SEQUENCE {
            return Err(Error::Internal(Internal::SequenceExhausted));
        }
        *slot += 1;
        // The record header's version stays DTLS 1.2 in every record we send; RFC 6347 §4.1
        // lets a client use 1.0 in its first hello, but every peer we meet accepts 1.2.
        let header = RecordHeader {
            content_type,
            version: self.version,
            epoch,
            sequence,
            length: (overhead + plain_len) as u16,
        };
        out[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        let mut aad = [0u8; 13];
        aad[..11].copy_from_slice(&header.aad_prefix());
        aad[11..].copy_from_slice(&(plain_len as u16).to_be_bytes());
        match (cipher, parts) {
            // One part (application data, alerts): encrypt while copying.
            (Some(c), [only]) => {
                c.seal_from(header.seq64(), &aad, only, &mut out[HEADER_LEN..total])?
            }
            _ => {
                let explicit = cipher.map_or(0, |c| c.explicit_len());
                let mut at = HEADER_LEN + explicit;
                for p in parts {
                    out[at..at + p.len()].copy_from_slice(p);
                    at += p.len();
                }
                if let Some(c) = cipher {
                    c.seal(header.seq64(), &aad, &mut out[HEADER_LEN..total])?;
                }
            }
        }
        Ok(total)
    }

    /// Seals one application-data record in epoch 1 into the front of `out`: the data path,
    /// with the header and the additional data built straight from the 64-bit record number
    /// (epoch 1 in its top 16 bits is the header's epoch and sequence fields, and the
    /// additional data's seq_num, RFC 5246 §6.2.3.3 with RFC 6347 §4.1.2.1).
    #[inline]
    pub(crate) fn seal_data(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.seal_data_by(data.len(), out, |c, seq64, aad, fragment| {
            c.seal_from(seq64, aad, data, fragment)
        })
    }

    /// Where the plaintext of an application-data record starts in the record (after the
    /// header and the explicit nonce), for [`RecordLayer::seal_data_in_place`].
    #[inline]
    pub(crate) fn data_offset(&self) -> usize {
        HEADER_LEN + self.write_cipher.as_ref().map_or(0, |c| c.explicit_len())
    }

    /// [`RecordLayer::seal_data`] of the `plain_len` bytes already written at
    /// [`data_offset`](RecordLayer::data_offset) in `out`, sealed where they lie.
    #[inline]
    pub(crate) fn seal_data_in_place(
        &mut self,
        plain_len: usize,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.seal_data_by(plain_len, out, |c, seq64, aad, fragment| {
            c.seal(seq64, aad, fragment)
        })
    }

    /// The header and additional data of an application-data record of `plain_len` bytes in
    /// the front of `out`; `seal` fills in the fragment (explicit nonce, ciphertext, tag).
    #[inline]
    fn seal_data_by(
        &mut self,
        plain_len: usize,
        out: &mut [u8],
        seal: impl FnOnce(&RecordCipher, u64, &[u8; 13], &mut [u8]) -> Result<(), Error>,
    ) -> Result<usize, Error> {
        let cipher = match &self.write_cipher {
            Some(c) if self.write_epoch == 1 => c,
            _ => return Err(Error::Internal(Internal::Crypto)),
        };
        if plain_len > MAX_PLAINTEXT {
            return Err(Error::Misuse(Misuse::DataTooLarge {
                len: plain_len,
                max: MAX_PLAINTEXT,
            }));
        }
        let sequence = self.write_seq[1];
        if sequence > MAX_SEQUENCE {
            return Err(Error::Internal(Internal::SequenceExhausted));
        }
        let fragment_len = cipher.overhead() + plain_len;
        let total = HEADER_LEN + fragment_len;
        let remaining = out.len();
        let record = out
            .get_mut(..total)
            .ok_or(crate::wire::Error::BufferTooSmall {
                needed: total,
                remaining,
            })?;
        self.write_seq[1] = sequence + 1;
        let seq64 = (1 << 48) | sequence;
        let seq_bytes = seq64.to_be_bytes();
        let [v0, v1] = self.version.to_u16().to_be_bytes();
        let ty = ContentType::ApplicationData.to_u8();
        let (head, fragment) = record.split_at_mut(HEADER_LEN);
        head[0] = ty;
        head[1] = v0;
        head[2] = v1;
        head[3..11].copy_from_slice(&seq_bytes);
        head[11..].copy_from_slice(&(fragment_len as u16).to_be_bytes());
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&seq_bytes);
        aad[8] = ty;
        aad[9] = v0;
        aad[10] = v1;
        aad[11..].copy_from_slice(&(plain_len as u16).to_be_bytes());
        seal(cipher, seq64, &aad, fragment)?;
        Ok(total)
    }

    /// Opens a record: epoch 0 records come back as they are; protected ones are checked
    /// against the replay window, decrypted into `scratch` and then marked as seen
    /// (RFC 6347 §4.1.2.6: check before, update after authentication).
    pub(crate) fn open<'a>(
        &mut self,
        record: &Record<'a>,
        scratch: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], Error> {
        match record.header.epoch {
            0 => Ok(record.fragment),
            1 => {
                let cipher = self
                    .read_cipher
                    .as_ref()
                    .ok_or(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))?;
                let seq = record.header.sequence;
                self.replay.check(seq).map_err(|_| Error::Replay)?;
                scratch.clear();
                scratch.extend_from_slice(record.fragment);
                let range: Range<usize> =
                    cipher.open(record.header.seq64(), &record.header.aad_prefix(), scratch)?;
                self.replay.accept(seq);
                Ok(&scratch[range])
            }
            _ => Err(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac)),
        }
    }
}

impl RecordLayer {
    /// Opens a protected record into `out`, sized to exactly its plaintext, decrypting
    /// straight from the datagram (no copy of the ciphertext first), for data that is handed
    /// on as it is. On failure `out` holds nothing of use and must not be handed on.
    #[inline]
    pub(crate) fn open_owned(
        &mut self,
        record: &Record<'_>,
        out: &mut impl Plaintext,
    ) -> Result<(), Error> {
        let cipher = match record.header.epoch {
            1 => self
                .read_cipher
                .as_ref()
                .ok_or(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))?,
            _ => return Err(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac)),
        };
        let seq = record.header.sequence;
        self.replay.check(seq).map_err(|_| Error::Replay)?;
        let plain_len = record
            .fragment
            .len()
            .checked_sub(cipher.overhead())
            .ok_or(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))?;
        cipher.open_into(
            record.header.seq64(),
            &record.header.aad_prefix(),
            record.fragment,
            out.sized(plain_len),
        )?;
        self.replay.accept(seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::crypto::{CipherSuite, key_block};
    use proptest::prelude::*;

    fn pair() -> (RecordLayer, RecordLayer) {
        let mut client = RecordLayer::new();
        let mut server = RecordLayer::new();
        let keys = |s| key_block(s, &[9; 48], &[1; 32], &[2; 32]).unwrap();
        client.install_keys(keys(CipherSuite::EcdheEcdsaAes128GcmSha256), true);
        server.install_keys(keys(CipherSuite::EcdheEcdsaAes128GcmSha256), false);
        client.start_writing_epoch1();
        server.start_writing_epoch1();
        (client, server)
    }

    #[test]
    fn several_records_share_a_datagram() {
        let (mut client, mut server) = pair();
        let mut dgram = [0u8; 200];
        let a = client
            .seal(0, ContentType::Handshake, &[b"one"], &mut dgram)
            .unwrap();
        let b = client
            .seal(
                1,
                ContentType::ApplicationData,
                &[b"tw", b"o"],
                &mut dgram[a..],
            )
            .unwrap();
        assert_eq!(b, HEADER_LEN + 24 + 3);
        let recs: Vec<_> = records(&dgram[..a + b]).collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 2);
        let mut scratch = Vec::new();
        assert_eq!(server.open(&recs[0], &mut scratch).unwrap(), b"one");
        let mut scratch = Vec::new();
        assert_eq!(server.open(&recs[1], &mut scratch).unwrap(), b"two");
        assert_eq!(recs[1].header.epoch, 1);
        assert_eq!(recs[1].header.sequence, 0);
    }

    #[test]
    fn replayed_record_is_rejected_after_authentication_only() {
        let (mut client, mut server) = pair();
        let mut buf = [0u8; 100];
        let n = client
            .seal(1, ContentType::ApplicationData, &[b"x"], &mut buf)
            .unwrap();
        let rec = records(&buf[..n]).next().unwrap().unwrap();
        // A forged copy with a broken tag does not poison the window.
        let mut forged = buf;
        forged[n - 1] ^= 0xff;
        let bad = records(&forged[..n]).next().unwrap().unwrap();
        let mut scratch = Vec::new();
        assert_eq!(
            server.open(&bad, &mut scratch),
            Err(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))
        );
        let mut scratch = Vec::new();
        assert!(server.open(&rec, &mut scratch).is_ok());
        let mut scratch = Vec::new();
        assert_eq!(server.open(&rec, &mut scratch), Err(Error::Replay));
    }

    #[test]
    fn truncated_record_ends_iteration_with_an_error() {
        let (mut client, _) = pair();
        let mut buf = [0u8; 64];
        let n = client
            .seal(0, ContentType::Handshake, &[b"abcdef"], &mut buf)
            .unwrap();
        let mut it = records(&buf[..n - 1]);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn unknown_epochs_and_missing_keys_are_rejected() {
        let mut layer = RecordLayer::new();
        let hdr = RecordHeader {
            content_type: ContentType::ApplicationData,
            version: Version::Dtls12,
            epoch: 1,
            sequence: 0,
            length: 30,
        };
        let rec = Record {
            header: hdr,
            fragment: &[0; 30],
        };
        let mut scratch = Vec::new();
        assert_eq!(
            layer.open(&rec, &mut scratch),
            Err(Error::PeerMisbehaved(PeerMisbehaved::BadRecordMac))
        );
        assert!(
            layer
                .seal(1, ContentType::Alert, &[b"x"], &mut [0; 64])
                .is_err()
        );
        assert!(
            layer
                .seal(0, ContentType::Alert, &[b"x"], &mut [0; 10])
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn header_round_trips(ct: u8, version: u16, epoch: u16, seq in 0u64..1 << 48, length: u16) {
            let h = RecordHeader {
                content_type: ContentType::from_u8(ct),
                version: Version::from_u16(version),
                epoch,
                sequence: seq,
                length,
            };
            let mut buf = [0u8; HEADER_LEN];
            h.write(&mut Writer::new(&mut buf)).unwrap();
            prop_assert_eq!(RecordHeader::parse(&mut Reader::new(&buf)).unwrap(), h);
        }

        /// The data path's sealer writes byte for byte what the general one writes for the
        /// same record number, and the peer opens it.
        #[test]
        fn data_records_seal_as_the_general_path_does(
            data in proptest::collection::vec(any::<u8>(), 0..1300),
            skip in 0u64..5,
        ) {
            let (mut a, mut server) = pair();
            let (mut b, _) = pair();
            for _ in 0..skip {
                a.seal_data(b"x", &mut [0; 64]).unwrap();
                b.seal(1, ContentType::ApplicationData, &[b"x"], &mut [0; 64]).unwrap();
            }
            let (mut fast, mut general) = ([0u8; 1400], [0u8; 1400]);
            let n = a.seal_data(&data, &mut fast).unwrap();
            let m = b.seal(1, ContentType::ApplicationData, &[&data], &mut general).unwrap();
            prop_assert_eq!(&fast[..n], &general[..m]);
            let rec = records(&fast[..n]).next().unwrap().unwrap();
            let mut out = Vec::new();
            server.open_owned(&rec, &mut out).unwrap();
            prop_assert_eq!(out, data);
        }

        #[test]
        fn any_bytes_split_into_records_without_panicking(data: Vec<u8>) {
            let mut layer = pair().1;
            for rec in records(&data).flatten() {
                let mut scratch = Vec::new();
                let _ = layer.open(&rec, &mut scratch);
            }
        }
    }
}
