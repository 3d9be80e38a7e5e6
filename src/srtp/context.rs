//! The SRTP crypto context of one direction (RFC 3711 §3.2): session keys, and per SSRC the
//! rollover counter, the SRTCP index and the replay windows.

use super::crypto::Cipher;
use super::header::{self, RTCP_HEADER};
use super::kdf::Kdf;
use super::profile::{Role, split_keying_material};
use super::{Error, Profile};
use crate::wire::{Replay, ReplayWindow};

/// RFC 3711 §4.1.1: AES-CM counts 2^16 blocks per packet; with the UDP limit below that, no
/// packet's keystream can run into the next index.
const MAX_PACKET: usize = 65_535;
/// RFC 3711 §3.3.1: the packet index is 48 bits (ROC and sequence number).
const MAX_RTP_INDEX: u64 = (1 << 48) - 1;
/// RFC 3711 §3.4: the SRTCP index is 31 bits.
const MAX_RTCP_INDEX: u32 = (1 << 31) - 1;
/// libsrtp's largest window; more costs memory per SSRC and buys nothing.
const MAX_REPLAY_WINDOW: usize = 32_768;

/// Limits of a [`Context`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Replay window in packets, per SSRC, for SRTP and for SRTCP (RFC 3711 §3.3.2 asks for at
    /// least 64). Rounded up to a power of two and capped at 32768. Default 128.
    pub replay_window: usize,
    /// How many SSRCs one context keeps state for, in each direction. A packet for a new SSRC
    /// beyond this is refused with [`Error::SsrcLimit`]. Default 1024.
    pub max_ssrcs: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            replay_window: 128,
            max_ssrcs: 1024,
        }
    }
}

/// Both directions of a DTLS-SRTP association, keyed from the exporter output.
#[derive(Debug)]
pub struct Session {
    /// Protects what we send.
    pub outbound: Context,
    /// Unprotects what we receive.
    pub inbound: Context,
}

impl Session {
    /// Keys both directions from the DTLS exporter output (label [`EXPORTER_LABEL`], length
    /// [`Profile::keying_material_len`]), laid out as `client_write_key | server_write_key |
    /// client_write_salt | server_write_salt` (RFC 5764 §4.2). `role` is our DTLS role.
    ///
    /// [`EXPORTER_LABEL`]: super::EXPORTER_LABEL
    pub fn from_keying_material(
        profile: Profile,
        role: Role,
        material: &[u8],
        config: &Config,
    ) -> Result<Self, Error> {
        let (ours, theirs) = split_keying_material(profile, role, material)?;
        Ok(Self {
            outbound: Context::new(profile, ours.key, ours.salt, config)?,
            inbound: Context::new(profile, theirs.key, theirs.salt, config)?,
        })
    }
}

/// An SRTP/SRTCP crypto context for one master key: protects or unprotects RTP and RTCP in
/// place.
///
/// Outbound and inbound state are kept apart (one context can do both, which tests use; a
/// real association uses one context per direction, see [`Session`]). State for an SSRC is
/// created the first time it sends or, inbound, the first time one of its packets
/// authenticates: forged packets never take a slot or move a window.
pub struct Context {
    profile: Profile,
    rtp: Cipher,
    rtcp: Cipher,
    config: Config,
    send: SsrcMap<SendState>,
    /// The slot of the SSRC an RTP packet was last protected for: a sender's packets come
    /// stream after stream, so it is tried before the search (checked, as any may move).
    send_hint: usize,
    recv: SsrcMap<RecvState>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("profile", &self.profile)
            .field("config", &self.config)
            .field("outbound_ssrcs", &self.send.keys.len())
            .field("inbound_ssrcs", &self.recv.keys.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct SendState {
    /// The highest RTP packet index sent, if any.
    rtp_top: Option<u64>,
    /// RFC 3711 §3.4: zero before the first SRTCP packet, one more after each.
    rtcp_next: u32,
}

#[derive(Debug)]
struct RecvState {
    /// The replay window's top is the highest authenticated index: ROC and s_l in one.
    rtp: ReplayWindow,
    rtcp: ReplayWindow,
}

impl Context {
    /// A context from a master key and salt (lengths per [`Profile::key_len`] and
    /// [`Profile::salt_len`]); the session keys are derived here (RFC 3711 §4.3, key
    /// derivation rate 0).
    pub fn new(
        profile: Profile,
        master_key: &[u8],
        master_salt: &[u8],
        config: &Config,
    ) -> Result<Self, Error> {
        if !profile.is_supported() {
            return Err(Error::UnsupportedProfile(profile.into()));
        }
        for (expected, got) in [
            (profile.key_len(), master_key.len()),
            (profile.salt_len(), master_salt.len()),
        ] {
            if expected != got {
                return Err(Error::BadKeyLength { expected, got });
            }
        }
        let kdf = Kdf::new(master_key, master_salt)?;
        let mut config = *config;
        config.replay_window = config.replay_window.clamp(64, MAX_REPLAY_WINDOW);
        Ok(Self {
            profile,
            rtp: Cipher::new(profile, &kdf, false)?,
            rtcp: Cipher::new(profile, &kdf, true)?,
            config,
            send: SsrcMap::default(),
            send_hint: 0,
            recv: SsrcMap::default(),
        })
    }

    /// The profile this context was keyed for.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Protects the RTP packet in `buf[..len]` in place and returns the SRTP length, which is
    /// `len + profile().rtp_overhead()`; `buf` must have that much room. The header (CSRCs and
    /// extension included) stays in the clear; the outbound rollover counter of the SSRC
    /// advances when its sequence number wraps. A sequence number more than half the space
    /// before the SSRC's first packet has no index: [`Error::Replayed`] (libsrtp says the
    /// same).
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let packet = checked_packet(buf, len)?;
        let hdr = header::parse_rtp(packet)?;
        let out = room(buf, len + self.rtp.rtp_overhead())?;
        let index = self.send_index(hdr)?;
        self.rtp.protect_rtp(out, hdr.len, len, hdr.ssrc, index)?;
        Ok(out.len())
    }

    /// Protects the RTP packet `packet` into `out` and returns the SRTP length, as
    /// [`protect_rtp`](Self::protect_rtp) does in place; `packet` is left as it was. A sender
    /// that keeps its plaintext (a queue, a retransmission history) saves the copy into the
    /// output buffer: AEAD profiles encrypt straight across. `out` shorter than
    /// `packet.len() + profile().rtp_overhead()` is [`Error::BufferTooSmall`].
    pub fn protect_rtp_into(&mut self, packet: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.protect_rtp_parts(packet, &[], out)
    }

    /// Protects the RTP packet made of `head` followed by `tail` into `out`, as
    /// [`protect_rtp_into`](Self::protect_rtp_into) protects their concatenation: a forwarder
    /// that keeps its rewritten header apart from the payload it received seals both into the
    /// datagram with one pass over the payload. `head` must hold the whole RTP header (CSRCs
    /// and extension included, else [`Error::BadHeader`]); when it is exactly the header,
    /// AEAD profiles encrypt the payload straight across.
    pub fn protect_rtp_parts(
        &mut self,
        head: &[u8],
        tail: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let len = head.len() + tail.len();
        if len > MAX_PACKET {
            return Err(Error::TooLong);
        }
        let hdr = header::parse_rtp(head)?;
        let out = room(out, len + self.rtp.rtp_overhead())?;
        let index = self.send_index(hdr)?;
        self.rtp
            .protect_rtp_parts(head, tail, out, hdr.len, hdr.ssrc, index)?;
        Ok(out.len())
    }

    /// The packet index of an outgoing RTP packet, its SSRC's highest index moved up to it.
    #[inline]
    fn send_index(&mut self, hdr: header::RtpHeader) -> Result<u64, Error> {
        if !self.send.holds(self.send_hint, hdr.ssrc) {
            // Out of line, like an insert: a sender's packets come stream after stream.
            self.send_hint = self.send.slot_or_insert(hdr.ssrc, self.config.max_ssrcs)?;
        }
        let i = self.send_hint;
        let state = &mut self.send.values[i];
        let index = match state.rtp_top {
            None => u64::from(hdr.seq),
            // A retransmission of an older packet keeps its own index. A sequence number
            // before the stream's first has none (it would need ROC -1).
            Some(top) => estimate_index(top, hdr.seq).ok_or(Replay::TooOld)?,
        };
        if index > MAX_RTP_INDEX {
            return Err(Error::KeyExhausted);
        }
        state.rtp_top = state.rtp_top.max(Some(index));
        Ok(index)
    }

    /// Unprotects the SRTP packet filling `buf` in place and returns the RTP length: the
    /// plaintext is `buf[..n]`. The tag is checked before anything is decrypted and the replay
    /// window and rollover counter move only after it passed (RFC 3711 §3.3).
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        Ok(self.unprotect_rtp_in_place_hinted(buf, usize::MAX)?.len)
    }

    /// [`unprotect_rtp`](Self::unprotect_rtp) with a slot `hint` and what was parsed handed
    /// back, as [`unprotect_rtp_hinted`](Self::unprotect_rtp_hinted) does out of place: for a
    /// receive path that decrypts in the caller's buffer. On an error `buf` may hold anything
    /// (an AEAD profile may have decrypted before the tag failed); nothing was accepted.
    #[inline]
    pub(crate) fn unprotect_rtp_in_place_hinted(
        &mut self,
        buf: &mut [u8],
        hint: usize,
    ) -> Result<Unprotected, Error> {
        let (hdr, slot, index) = self.check_rtp(buf, hint)?;
        let len = self.rtp.unprotect_rtp(buf, hdr.len, hdr.ssrc, index)?;
        Ok(self.accepted(hdr, slot, index, len))
    }

    /// Unprotects the SRTP packet `packet` into `out` and returns the RTP length: the
    /// plaintext is `out[..n]`, and `packet` is left as it was. The same checks and order as
    /// [`unprotect_rtp`](Self::unprotect_rtp); a receive path that hands packets out from
    /// its own buffer saves the copy into it (AEAD profiles decrypt straight across).
    /// `out` shorter than the RTP length is [`Error::BufferTooSmall`].
    pub fn unprotect_rtp_into(&mut self, packet: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        Ok(self.unprotect_rtp_hinted(packet, out, usize::MAX)?.len)
    }

    /// [`unprotect_rtp_into`](Self::unprotect_rtp_into) for a receive path that keeps, beside
    /// its own route for the SSRC, the slot this context gave it last time (`hint`; any
    /// value is safe, a stale one costs the search it would have saved). What was parsed
    /// comes back with the slot, so the caller neither parses the header nor searches for
    /// the SSRC again.
    pub(crate) fn unprotect_rtp_hinted(
        &mut self,
        packet: &[u8],
        out: &mut [u8],
        hint: usize,
    ) -> Result<Unprotected, Error> {
        let (hdr, slot, index) = self.check_rtp(packet, hint)?;
        let len = packet.len() - self.rtp.rtp_overhead();
        let available = out.len();
        let out = out.get_mut(..len).ok_or(Error::BufferTooSmall {
            needed: len,
            available,
        })?;
        self.rtp
            .unprotect_rtp_into(packet, out, hdr.len, hdr.ssrc, index)?;
        Ok(self.accepted(hdr, slot, index, len))
    }

    /// An RTP packet authenticated and decrypted: its SSRC's state made if it is new (at
    /// `slot`, from [`check_rtp`](Self::check_rtp)) and its replay window moved to `index`.
    #[inline(always)]
    fn accepted(
        &mut self,
        hdr: header::RtpHeader,
        slot: Result<usize, usize>,
        index: u64,
        len: usize,
    ) -> Unprotected {
        let slot = match slot {
            Ok(i) => i,
            Err(i) => {
                self.recv_state(slot, hdr.ssrc);
                i
            }
        };
        self.recv.values[slot].rtp.accept(index);
        Unprotected {
            header: hdr,
            len,
            slot,
        }
    }

    /// The header, the SSRC's slot and the packet index of a received SRTP packet, once its
    /// index is one the replay window and the key may take (nothing is changed yet). `hint`
    /// is where the SSRC is expected (see [`unprotect_rtp_hinted`](Self::unprotect_rtp_hinted)).
    // Always inlined: its result (48 bytes) went back through memory, and reading it stalled
    // every packet.
    #[inline(always)]
    fn check_rtp(
        &self,
        buf: &[u8],
        hint: usize,
    ) -> Result<(header::RtpHeader, Result<usize, usize>, u64), Error> {
        if buf.len() > MAX_PACKET {
            return Err(Error::TooLong);
        }
        let body = buf
            .len()
            .checked_sub(self.rtp.rtp_overhead())
            .ok_or(Error::TooShort)?;
        let hdr = header::parse_rtp(&buf[..body])?;
        let slot = self.recv.find_hinted(hdr.ssrc, hint);
        let index = match slot {
            Ok(i) => {
                let window = &self.recv.values[i].rtp;
                let index = match window.top() {
                    None => u64::from(hdr.seq),
                    Some(top) => estimate_index(top, hdr.seq).ok_or(Replay::TooOld)?,
                };
                window.check(index)?;
                index
            }
            Err(_) if self.recv.keys.len() >= self.config.max_ssrcs => {
                return Err(Error::SsrcLimit);
            }
            // RFC 3711 §3.3.1: a new stream starts with ROC 0 and s_l its first sequence number.
            Err(_) => u64::from(hdr.seq),
        };
        if index > MAX_RTP_INDEX {
            return Err(Error::KeyExhausted);
        }
        Ok((hdr, slot, index))
    }

    /// Protects the RTCP (possibly compound) packet in `buf[..len]` in place and returns the
    /// SRTCP length, `len + profile().rtcp_overhead()`. Everything after the first 8 bytes is
    /// encrypted; the SRTCP index of the sender SSRC advances by one.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let packet = checked_packet(buf, len)?;
        let ssrc = header::parse_rtcp(packet)?;
        let out = room(buf, len + self.rtcp.rtcp_overhead())?;
        let state = self.send.get_or_insert(ssrc, self.config.max_ssrcs)?;
        let index = state.rtcp_next;
        if index > MAX_RTCP_INDEX {
            return Err(Error::KeyExhausted);
        }
        state.rtcp_next += 1;
        self.rtcp.protect_rtcp(out, len, ssrc, index)?;
        Ok(out.len())
    }

    /// Unprotects the SRTCP packet filling `buf` in place and returns the RTCP length.
    /// Authenticated before decryption; the replay window moves only after. Packets sent
    /// without encryption (E flag clear) are authenticated and returned as they are.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.len() > MAX_PACKET {
            return Err(Error::TooLong);
        }
        let body = buf
            .len()
            .checked_sub(self.rtcp.rtcp_overhead())
            .filter(|&n| n >= RTCP_HEADER)
            .ok_or(Error::TooShort)?;
        let ssrc = header::parse_rtcp(&buf[..body])?;
        let trailer = self.rtcp.rtcp_trailer(buf);
        let index = u64::from(trailer & !super::crypto::E_FLAG);
        let slot = self.recv.find(ssrc);
        match slot {
            Ok(i) => self.recv.values[i].rtcp.check(index)?,
            Err(_) if self.recv.keys.len() >= self.config.max_ssrcs => {
                return Err(Error::SsrcLimit);
            }
            Err(_) => {}
        }
        let len = self.rtcp.unprotect_rtcp(buf, ssrc, trailer)?;
        self.recv_state(slot, ssrc).rtcp.accept(index);
        Ok(len)
    }

    /// Forgets an SSRC in both directions (its stream ended), freeing its slot. A later packet
    /// from it starts over as a new stream.
    pub fn remove_ssrc(&mut self, ssrc: u32) {
        self.send.remove(ssrc);
        self.recv.remove(ssrc);
    }

    /// The inbound state of `ssrc`, created at `slot` (from [`SsrcMap::find`] before the
    /// packet was authenticated; nothing was inserted since) if it is new.
    fn recv_state(&mut self, slot: Result<usize, usize>, ssrc: u32) -> &mut RecvState {
        let i = match slot {
            Ok(i) => i,
            Err(i) => {
                let window = self.config.replay_window;
                self.recv.keys.insert(i, ssrc);
                let state = RecvState {
                    rtp: ReplayWindow::new(window),
                    rtcp: ReplayWindow::new(window),
                };
                self.recv.values.insert(i, state);
                i
            }
        };
        &mut self.recv.values[i]
    }
}

/// What [`Context::unprotect_rtp_hinted`] found: the plaintext's header (in the clear, so the
/// same as the packet's), its length and the SSRC's slot in the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unprotected {
    pub(crate) header: header::RtpHeader,
    pub(crate) len: usize,
    pub(crate) slot: usize,
}

/// `buf[..len]`, or why not.
fn checked_packet(buf: &[u8], len: usize) -> Result<&[u8], Error> {
    if len > MAX_PACKET {
        return Err(Error::TooLong);
    }
    buf.get(..len).ok_or(Error::BufferTooSmall {
        needed: len,
        available: buf.len(),
    })
}

/// `buf[..needed]` for the protected packet, or why not.
fn room(buf: &mut [u8], needed: usize) -> Result<&mut [u8], Error> {
    let available = buf.len();
    buf.get_mut(..needed)
        .ok_or(Error::BufferTooSmall { needed, available })
}

/// RFC 3711 §3.3.1 and Appendix A: the index of sequence number `seq`, given the highest index
/// seen, `top` (its ROC and s_l), choosing among ROC - 1, ROC and ROC + 1 the one closest to
/// s_l. `None` when that would be ROC - 1 with ROC = 0: a packet from before the stream began.
pub(crate) fn estimate_index(top: u64, seq: u16) -> Option<u64> {
    const HALF: u16 = 1 << 15;
    let roc = top >> 16;
    let s_l = top as u16;
    let v = if s_l < HALF {
        if seq > s_l && seq - s_l > HALF {
            roc.checked_sub(1)?
        } else {
            roc
        }
    } else if s_l - HALF > seq {
        roc + 1
    } else {
        roc
    };
    Some(v << 16 | u64::from(seq))
}

/// SSRC-keyed state: sorted keys for a binary search (O(log n), no hashing, no allocation once
/// the SSRC exists), values alongside.
#[derive(Debug)]
struct SsrcMap<T> {
    keys: Vec<u32>,
    values: Vec<T>,
}

impl<T> Default for SsrcMap<T> {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl<T> SsrcMap<T> {
    fn find(&self, ssrc: u32) -> Result<usize, usize> {
        self.keys.binary_search(&ssrc)
    }

    /// Whether slot `i` is `ssrc`'s: a slot remembered from an earlier lookup is checked
    /// before use, as slots move when SSRCs come and go.
    #[inline]
    fn holds(&self, i: usize, ssrc: u32) -> bool {
        self.keys.get(i) == Some(&ssrc)
    }

    /// [`find`](Self::find), trying slot `hint` first.
    #[inline]
    fn find_hinted(&self, ssrc: u32, hint: usize) -> Result<usize, usize> {
        match self.holds(hint, ssrc) {
            true => Ok(hint),
            false => self.find(ssrc),
        }
    }

    fn remove(&mut self, ssrc: u32) {
        if let Ok(i) = self.find(ssrc) {
            self.keys.remove(i);
            self.values.remove(i);
        }
    }
}

impl<T: Default> SsrcMap<T> {
    fn get_or_insert(&mut self, ssrc: u32, limit: usize) -> Result<&mut T, Error> {
        let i = self.slot_or_insert(ssrc, limit)?;
        Ok(&mut self.values[i])
    }

    /// The slot of `ssrc`, added if it is new and there is room.
    #[inline(never)]
    fn slot_or_insert(&mut self, ssrc: u32, limit: usize) -> Result<usize, Error> {
        match self.find(ssrc) {
            Ok(i) => Ok(i),
            Err(_) if self.keys.len() >= limit => Err(Error::SsrcLimit),
            Err(i) => {
                self.keys.insert(i, ssrc);
                self.values.insert(i, T::default());
                Ok(i)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_estimation_follows_rfc3711_appendix_a() {
        let idx = |roc: u64, seq: u64| roc << 16 | seq;
        assert_eq!(estimate_index(idx(0, 100), 101), Some(idx(0, 101)));
        assert_eq!(estimate_index(idx(0, 65_530), 3), Some(idx(1, 3)));
        assert_eq!(estimate_index(idx(1, 3), 65_530), Some(idx(0, 65_530)));
        assert_eq!(estimate_index(idx(0, 3), 65_530), None);
        assert_eq!(
            estimate_index(idx(5, 1000), 1000 + 32_768),
            Some(idx(5, 33_768))
        );
        assert_eq!(
            estimate_index(idx(5, 1000), 1000 + 32_769),
            Some(idx(4, 33_769))
        );
        assert_eq!(
            estimate_index(idx(5, 40_000), 40_000 - 32_768),
            Some(idx(5, 7_232))
        );
        assert_eq!(
            estimate_index(idx(5, 40_000), 40_000 - 32_769),
            Some(idx(6, 7_231))
        );
    }

    #[test]
    fn each_ssrc_keeps_its_own_index_as_others_come_and_go() {
        // The send slot tried first is the last one used: SSRCs added before it (which move
        // it) and removed must not hand one stream another's rollover counter.
        let config = Config::default();
        let key = [7u8; 16];
        let salt = [9u8; 12];
        let mut tx = Context::new(Profile::AeadAes128Gcm, &key, &salt, &config).unwrap();
        let mut rx = Context::new(Profile::AeadAes128Gcm, &key, &salt, &config).unwrap();
        let mut send = |tx: &mut Context, ssrc: u32, seq: u16| {
            let mut buf = [0u8; 64];
            buf[..2].copy_from_slice(&[0x80, 96]);
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
            let n = tx.protect_rtp(&mut buf, 20).unwrap();
            rx.unprotect_rtp(&mut buf[..n])
        };
        assert!(send(&mut tx, 5, 65_535).is_ok());
        // Sorted before 5: 5's slot moves.
        assert!(send(&mut tx, 3, 100).is_ok());
        // 5 wrapped: ROC 1, which the receiver takes only if the sender used it.
        assert!(send(&mut tx, 5, 0).is_ok());
        assert!(send(&mut tx, 3, 101).is_ok());
        tx.remove_ssrc(3);
        assert!(send(&mut tx, 5, 1).is_ok());
        assert!(send(&mut tx, 9, 7).is_ok());
        assert!(send(&mut tx, 5, 2).is_ok());
    }

    #[test]
    fn exhausted_indices_are_refused_rather_than_reused() {
        let config = Config::default();
        let mut ctx = Context::new(Profile::AeadAes128Gcm, &[0; 16], &[0; 12], &config).unwrap();
        let mut buf = [0u8; 100];
        buf[..8].copy_from_slice(&[0x80, 200, 0, 1, 0, 0, 0, 1]);
        ctx.protect_rtcp(&mut buf, 8).unwrap();
        ctx.send.values[0].rtcp_next = MAX_RTCP_INDEX;
        assert!(ctx.protect_rtcp(&mut buf, 8).is_ok());
        assert_eq!(ctx.protect_rtcp(&mut buf, 8), Err(Error::KeyExhausted));
        // RFC 3711 §3.3.1: the ROC must not wrap under one key.
        buf[..12].copy_from_slice(&[0x80, 96, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1]);
        ctx.protect_rtp(&mut buf, 12).unwrap();
        ctx.send.values[0].rtp_top = Some(MAX_RTP_INDEX);
        assert!(
            ctx.protect_rtp(&mut buf, 12).is_ok(),
            "the last index is usable"
        );
        buf[2..4].copy_from_slice(&[0, 0]);
        assert_eq!(ctx.protect_rtp(&mut buf, 12), Err(Error::KeyExhausted));
    }
}
