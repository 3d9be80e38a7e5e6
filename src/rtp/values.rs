//! Typed header extension values and the id -> meaning map the caller fills from the SDP
//! `extmap` lines (RFC 8285 §5): this layer knows no SDP, only the URIs.

use smallvec::SmallVec;

use super::Error;
use super::extension::ONE_BYTE_MAX_ID;

/// What a header extension id means in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionKind {
    /// RFC 9143 / RFC 8843 §15: the media section's `mid` (a string).
    Mid,
    /// RFC 8852 §3.1: the RtpStreamId (`rid`) of a simulcast encoding (a string).
    RtpStreamId,
    /// RFC 8852 §3.2: the RtpStreamId of the stream a repair (RTX) stream repairs.
    RepairedRtpStreamId,
    /// abs-send-time: the sender's send time, 6.18 fixed-point seconds in 24 bits.
    AbsSendTime,
    /// draft-holmer-rmcat-transport-wide-cc-extensions-01 §2: a transport-wide u16 sequence.
    TransportCc,
    /// RFC 6464: the client-to-mixer audio level (V bit + level in -dBov).
    AudioLevel,
    /// 3GPP TS 26.114 CVO: camera, flip and rotation of the video.
    VideoOrientation,
    /// playout-delay: the minimum and maximum playout delay, 12 bits each in 10 ms units.
    PlayoutDelay,
}

impl ExtensionKind {
    /// Every kind this layer understands.
    pub const ALL: [Self; 8] = [
        Self::Mid,
        Self::RtpStreamId,
        Self::RepairedRtpStreamId,
        Self::AbsSendTime,
        Self::TransportCc,
        Self::AudioLevel,
        Self::VideoOrientation,
        Self::PlayoutDelay,
    ];

    /// The URI an `a=extmap` line uses for this kind.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Mid => "urn:ietf:params:rtp-hdrext:sdes:mid",
            Self::RtpStreamId => "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            Self::RepairedRtpStreamId => "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
            Self::AbsSendTime => "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            Self::TransportCc => {
                "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
            }
            Self::AudioLevel => "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            Self::VideoOrientation => "urn:3gpp:video-orientation",
            Self::PlayoutDelay => "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
        }
    }

    /// The kind an `a=extmap` URI names, if this layer understands it.
    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.uri() == uri)
    }
}

/// Maps local extension ids (1..=255) to their meaning for one session or m-line. The caller
/// fills it from the negotiated `extmap` lines; typed getters on
/// [`RtpPacket`](super::RtpPacket) take it. Ids 1..=14 (all a one-byte header can carry, and
/// all browsers use) live inline; higher ids spill into a small vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionMap {
    low: [Option<ExtensionKind>; ONE_BYTE_MAX_ID as usize + 1],
    high: SmallVec<[(u8, ExtensionKind); 1]>,
    /// By kind (its place in [`ExtensionKind::ALL`]): what [`id`](Self::id) answers, 0 for
    /// none, kept in step with the mappings. The receive path asks for ids on every packet.
    ids: [u8; ExtensionKind::ALL.len()],
}

impl ExtensionMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `id` to `kind`, replacing (and returning) what `id` meant before. Id 0 is not a
    /// valid id (RFC 8285 §4.2, §4.3: it is padding) and is ignored.
    pub fn insert(&mut self, id: u8, kind: ExtensionKind) -> Option<ExtensionKind> {
        if id == 0 {
            return None;
        }
        let before = if let Some(slot) = self.low.get_mut(usize::from(id)) {
            slot.replace(kind)
        } else if let Some(entry) = self.high.iter_mut().find(|(i, _)| *i == id) {
            Some(std::mem::replace(&mut entry.1, kind))
        } else {
            self.high.push((id, kind));
            None
        };
        self.reindex();
        before
    }

    /// Forgets what `id` meant.
    pub fn remove(&mut self, id: u8) -> Option<ExtensionKind> {
        let removed = if let Some(slot) = self.low.get_mut(usize::from(id)) {
            slot.take()
        } else {
            let at = self.high.iter().position(|(i, _)| *i == id)?;
            Some(self.high.remove(at).1)
        };
        self.reindex();
        removed
    }

    /// Rebuilds the ids by kind: the lowest inline id, else the first spilled one.
    fn reindex(&mut self) {
        for (slot, kind) in self.ids.iter_mut().zip(ExtensionKind::ALL) {
            *slot = self
                .low
                .iter()
                .position(|k| *k == Some(kind))
                .map(|i| i as u8)
                .or_else(|| self.high.iter().find(|(_, k)| *k == kind).map(|(i, _)| *i))
                .unwrap_or(0);
        }
    }

    /// What `id` means, if mapped.
    pub fn kind(&self, id: u8) -> Option<ExtensionKind> {
        match self.low.get(usize::from(id)) {
            Some(kind) => *kind,
            None => self.high.iter().find(|(i, _)| *i == id).map(|(_, k)| *k),
        }
    }

    /// The (lowest) id mapped to `kind`.
    pub fn id(&self, kind: ExtensionKind) -> Option<u8> {
        let id = self.ids[kind as usize];
        (id != 0).then_some(id)
    }

    /// Every mapping, by id.
    pub fn iter(&self) -> impl Iterator<Item = (u8, ExtensionKind)> + '_ {
        let low = (self.low.iter().enumerate()).filter_map(|(i, k)| k.map(|k| (i as u8, k)));
        low.chain(self.high.iter().copied())
    }
}

/// abs-send-time: 24 bits of 6.18 fixed-point seconds (wraps every 64 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AbsSendTime(pub u32);

impl AbsSendTime {
    /// From a 64-bit NTP timestamp (32.32): the middle 24 bits of its 6.18 form.
    pub fn from_ntp(ntp: u64) -> Self {
        Self(((ntp >> 14) & 0x00ff_ffff) as u32)
    }

    /// From microseconds on any clock (only the value modulo 64 s is kept).
    pub fn from_micros(micros: u64) -> Self {
        let fixed = (u128::from(micros) << 18) / 1_000_000;
        Self((fixed & 0x00ff_ffff) as u32)
    }

    /// The value in microseconds, in `0..64_000_000`.
    pub fn to_micros(self) -> u64 {
        (u64::from(self.0 & 0x00ff_ffff) * 1_000_000) >> 18
    }
}

/// RFC 6464 §3: the audio level of the packet's audio, and whether it holds voice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AudioLevel {
    /// The V bit: the encoder believes the packet contains voice activity.
    pub voice: bool,
    /// The level in -dBov, 0 (loudest) to 127 (silence).
    pub level: u8,
}

/// The rotation of a 3GPP CVO video orientation, counter-clockwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Rotation {
    /// No rotation.
    #[default]
    Deg0,
    /// 90 degrees.
    Deg90,
    /// 180 degrees.
    Deg180,
    /// 270 degrees.
    Deg270,
}

/// 3GPP TS 26.114 §7.4.5 coordination of video orientation: `0 0 0 0 C F R1 R0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VideoOrientation {
    /// C: the back-facing camera (false: front-facing).
    pub back_camera: bool,
    /// F: the picture is flipped horizontally.
    pub flip: bool,
    /// R1 R0: the rotation to apply.
    pub rotation: Rotation,
}

/// playout-delay: the delay bounds a sender asks a receiver to keep, in 10 ms units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PlayoutDelay {
    /// The minimum delay, 12 bits (0..=4095, up to 40.95 s).
    pub min: u16,
    /// The maximum delay, 12 bits.
    pub max: u16,
}

/// The value of one header extension element, typed when its kind is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionValue<'a> {
    /// [`ExtensionKind::Mid`].
    Mid(&'a str),
    /// [`ExtensionKind::RtpStreamId`].
    RtpStreamId(&'a str),
    /// [`ExtensionKind::RepairedRtpStreamId`].
    RepairedRtpStreamId(&'a str),
    /// [`ExtensionKind::AbsSendTime`].
    AbsSendTime(AbsSendTime),
    /// [`ExtensionKind::TransportCc`]: the transport-wide sequence number.
    TransportCc(u16),
    /// [`ExtensionKind::AudioLevel`].
    AudioLevel(AudioLevel),
    /// [`ExtensionKind::VideoOrientation`].
    VideoOrientation(VideoOrientation),
    /// [`ExtensionKind::PlayoutDelay`].
    PlayoutDelay(PlayoutDelay),
    /// An element whose id is not mapped, kept as raw bytes.
    Raw(&'a [u8]),
}

fn text(data: &[u8]) -> Result<&str, Error> {
    // Some senders NUL-terminate the string inside the element; the NULs are not part of it.
    let end = data.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    if end == 0 {
        // RFC 8852 §3.1: an RtpStreamId (and a MID) is at least one character.
        return Err(Error::Malformed("empty string extension"));
    }
    std::str::from_utf8(&data[..end]).map_err(|_| Error::Malformed("string extension is not UTF-8"))
}

fn need<const N: usize>(data: &[u8]) -> Result<[u8; N], Error> {
    data.get(..N)
        .and_then(|d| d.try_into().ok())
        .ok_or(Error::TooShort)
}

impl<'a> ExtensionValue<'a> {
    /// Reads an element's data as `kind` (`None`: kept raw).
    pub fn parse(kind: Option<ExtensionKind>, data: &'a [u8]) -> Result<Self, Error> {
        let Some(kind) = kind else {
            return Ok(Self::Raw(data));
        };
        Ok(match kind {
            ExtensionKind::Mid => Self::Mid(text(data)?),
            ExtensionKind::RtpStreamId => Self::RtpStreamId(text(data)?),
            ExtensionKind::RepairedRtpStreamId => Self::RepairedRtpStreamId(text(data)?),
            ExtensionKind::AbsSendTime => {
                let [a, b, c] = need(data)?;
                Self::AbsSendTime(AbsSendTime(u32::from_be_bytes([0, a, b, c])))
            }
            // The draft's -02 variant appends two bytes; the first two are the sequence either way.
            ExtensionKind::TransportCc => Self::TransportCc(u16::from_be_bytes(need(data)?)),
            ExtensionKind::AudioLevel => {
                // RFC 6464 §3: the first byte is V + level; more bytes are padding.
                let [b] = need(data)?;
                Self::AudioLevel(AudioLevel {
                    voice: b & 0x80 != 0,
                    level: b & 0x7f,
                })
            }
            ExtensionKind::VideoOrientation => {
                let [b] = need(data)?;
                Self::VideoOrientation(VideoOrientation {
                    back_camera: b & 0x08 != 0,
                    flip: b & 0x04 != 0,
                    rotation: match b & 0x03 {
                        0 => Rotation::Deg0,
                        1 => Rotation::Deg90,
                        2 => Rotation::Deg180,
                        _ => Rotation::Deg270,
                    },
                })
            }
            ExtensionKind::PlayoutDelay => {
                let [a, b, c] = need(data)?;
                Self::PlayoutDelay(PlayoutDelay {
                    min: (u16::from(a) << 4) | u16::from(b >> 4),
                    max: (u16::from(b & 0x0f) << 8) | u16::from(c),
                })
            }
        })
    }

    /// The kind of this value (`None` for raw bytes).
    pub fn kind(&self) -> Option<ExtensionKind> {
        Some(match self {
            Self::Mid(_) => ExtensionKind::Mid,
            Self::RtpStreamId(_) => ExtensionKind::RtpStreamId,
            Self::RepairedRtpStreamId(_) => ExtensionKind::RepairedRtpStreamId,
            Self::AbsSendTime(_) => ExtensionKind::AbsSendTime,
            Self::TransportCc(_) => ExtensionKind::TransportCc,
            Self::AudioLevel(_) => ExtensionKind::AudioLevel,
            Self::VideoOrientation(_) => ExtensionKind::VideoOrientation,
            Self::PlayoutDelay(_) => ExtensionKind::PlayoutDelay,
            Self::Raw(_) => return None,
        })
    }

    /// Bytes of element data the value takes.
    pub fn len(&self) -> usize {
        match self {
            Self::Mid(s) | Self::RtpStreamId(s) | Self::RepairedRtpStreamId(s) => s.len(),
            Self::AbsSendTime(_) | Self::PlayoutDelay(_) => 3,
            Self::TransportCc(_) => 2,
            Self::AudioLevel(_) | Self::VideoOrientation(_) => 1,
            Self::Raw(d) => d.len(),
        }
    }

    /// Whether the value takes no bytes (only an empty raw value or string does).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the element data into `out`, which must be exactly [`len`](Self::len) bytes.
    pub fn write(&self, out: &mut [u8]) -> Result<(), Error> {
        if out.len() != self.len() {
            return Err(Error::LengthMismatch {
                have: out.len(),
                want: self.len(),
            });
        }
        match *self {
            Self::Mid(s) | Self::RtpStreamId(s) | Self::RepairedRtpStreamId(s) => {
                out.copy_from_slice(s.as_bytes())
            }
            Self::AbsSendTime(t) => {
                if t.0 > 0x00ff_ffff {
                    return Err(Error::TooLarge("abs-send-time"));
                }
                out.copy_from_slice(&t.0.to_be_bytes()[1..]);
            }
            Self::TransportCc(seq) => out.copy_from_slice(&seq.to_be_bytes()),
            Self::AudioLevel(a) => {
                if a.level > 0x7f {
                    return Err(Error::TooLarge("audio level"));
                }
                out[0] = (u8::from(a.voice) << 7) | a.level;
            }
            Self::VideoOrientation(v) => {
                let r = match v.rotation {
                    Rotation::Deg0 => 0,
                    Rotation::Deg90 => 1,
                    Rotation::Deg180 => 2,
                    Rotation::Deg270 => 3,
                };
                out[0] = (u8::from(v.back_camera) << 3) | (u8::from(v.flip) << 2) | r;
            }
            Self::PlayoutDelay(p) => {
                if p.min > 0x0fff || p.max > 0x0fff {
                    return Err(Error::TooLarge("playout delay"));
                }
                out[0] = (p.min >> 4) as u8;
                out[1] = ((p.min as u8 & 0x0f) << 4) | (p.max >> 8) as u8;
                out[2] = p.max as u8;
            }
            Self::Raw(d) => out.copy_from_slice(d),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_finds_ids_both_ways_including_two_byte_ids() {
        let mut map = ExtensionMap::new();
        assert_eq!(map.insert(3, ExtensionKind::Mid), None);
        assert_eq!(map.insert(200, ExtensionKind::TransportCc), None);
        assert_eq!(
            map.insert(3, ExtensionKind::RtpStreamId),
            Some(ExtensionKind::Mid)
        );
        assert_eq!(map.kind(3), Some(ExtensionKind::RtpStreamId));
        assert_eq!(map.kind(200), Some(ExtensionKind::TransportCc));
        assert_eq!(map.id(ExtensionKind::TransportCc), Some(200));
        assert_eq!(map.id(ExtensionKind::Mid), None);
        assert_eq!(map.insert(0, ExtensionKind::Mid), None);
        assert_eq!(map.kind(0), None);
        assert_eq!(map.iter().count(), 2);
        assert_eq!(map.remove(200), Some(ExtensionKind::TransportCc));
        assert_eq!(map.kind(200), None);
    }

    #[test]
    fn id_by_kind_follows_every_insert_and_remove() {
        // The table by kind is indexed by discriminant: ALL must list the kinds in order.
        for (i, k) in ExtensionKind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i);
        }
        let mut map = ExtensionMap::new();
        map.insert(200, ExtensionKind::Mid);
        map.insert(9, ExtensionKind::Mid);
        map.insert(4, ExtensionKind::Mid);
        assert_eq!(map.id(ExtensionKind::Mid), Some(4));
        map.remove(4);
        assert_eq!(map.id(ExtensionKind::Mid), Some(9));
        map.insert(9, ExtensionKind::AbsSendTime);
        assert_eq!(map.id(ExtensionKind::Mid), Some(200));
        assert_eq!(map.id(ExtensionKind::AbsSendTime), Some(9));
        map.remove(200);
        assert_eq!(map.id(ExtensionKind::Mid), None);
        assert_eq!(map, {
            let mut m = ExtensionMap::new();
            m.insert(9, ExtensionKind::AbsSendTime);
            m
        });
    }

    #[test]
    fn uris_map_back_to_their_kinds() {
        for kind in ExtensionKind::ALL {
            assert_eq!(ExtensionKind::from_uri(kind.uri()), Some(kind));
        }
        assert_eq!(ExtensionKind::from_uri("urn:nothing"), None);
    }

    #[test]
    fn abs_send_time_is_6_18_fixed_point() {
        // 1.5 s = 1 << 18 | 1 << 17.
        assert_eq!(AbsSendTime::from_micros(1_500_000), AbsSendTime(0x06_0000));
        assert_eq!(AbsSendTime(0x06_0000).to_micros(), 1_500_000);
        // 64 s wraps to 0.
        assert_eq!(AbsSendTime::from_micros(64_000_000), AbsSendTime(0));
        // NTP 1.5 s is 0x1_8000_0000.
        assert_eq!(AbsSendTime::from_ntp(0x1_8000_0000), AbsSendTime(0x06_0000));
    }

    #[test]
    fn playout_delay_packs_two_12_bit_fields() {
        let v = ExtensionValue::PlayoutDelay(PlayoutDelay {
            min: 0x123,
            max: 0x456,
        });
        let mut out = [0; 3];
        v.write(&mut out).unwrap();
        assert_eq!(out, [0x12, 0x34, 0x56]);
        assert_eq!(
            ExtensionValue::parse(Some(ExtensionKind::PlayoutDelay), &out),
            Ok(v)
        );
    }

    #[test]
    fn audio_level_and_orientation_bits_follow_their_specs() {
        // RFC 6464 §3: V=1, level 0x2a.
        let v = ExtensionValue::parse(Some(ExtensionKind::AudioLevel), &[0xaa]).unwrap();
        assert_eq!(
            v,
            ExtensionValue::AudioLevel(AudioLevel {
                voice: true,
                level: 42
            })
        );
        // CVO: C=1, F=0, R=11 (270 degrees).
        let v = ExtensionValue::parse(Some(ExtensionKind::VideoOrientation), &[0x0b]).unwrap();
        assert_eq!(
            v,
            ExtensionValue::VideoOrientation(VideoOrientation {
                back_camera: true,
                flip: false,
                rotation: Rotation::Deg270
            })
        );
    }

    #[test]
    fn strings_drop_trailing_nuls_and_refuse_bad_utf8() {
        assert_eq!(
            ExtensionValue::parse(Some(ExtensionKind::Mid), b"0\0\0"),
            Ok(ExtensionValue::Mid("0"))
        );
        assert!(ExtensionValue::parse(Some(ExtensionKind::RtpStreamId), &[0xff]).is_err());
        assert!(ExtensionValue::parse(Some(ExtensionKind::Mid), &[0]).is_err());
    }
}
