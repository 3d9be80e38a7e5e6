//! SRTP and SRTCP unprotect of arbitrary bytes, for every profile, never panics and never
//! returns more bytes than it was given. Half the inputs are instead protected first, so the
//! paths after authentication (decryption, ROC and window updates) run too, and must give the
//! input back. RTP is also unprotected out of place (`unprotect_rtp_into`, the receive path
//! of a PeerConnection) by a third context, which must agree with the in-place result.
#![no_main]
use kaon::srtp::{Config, Context, Profile};
use libfuzzer_sys::fuzz_target;

fn context(profile: Profile) -> Context {
    let key = [0x42; 32];
    let salt = [0x24; 14];
    Context::new(
        profile,
        &key[..profile.key_len()],
        &salt[..profile.salt_len()],
        &Config::default(),
    )
    .expect("valid lengths")
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let profile = Profile::SUPPORTED[usize::from(selector & 3)];
    let rtcp = selector & 4 != 0;
    let round_trip = selector & 8 != 0;
    let mut tx = context(profile);
    let mut rx = context(profile);
    let mut into = context(profile);
    // Several packets per input, split at 0xff bytes, so state carries between them.
    for packet in rest.split(|&b| b == 0xff).take(8) {
        let mut buf = [0u8; 4200];
        let Some(room) = buf.get_mut(..packet.len()) else {
            return;
        };
        room.copy_from_slice(packet);
        if round_trip {
            let protected = if rtcp {
                tx.protect_rtcp(&mut buf, packet.len())
            } else {
                tx.protect_rtp(&mut buf, packet.len())
            };
            let Ok(n) = protected else { continue };
            let mut out = [0u8; 4200];
            let opened = if rtcp {
                rx.unprotect_rtcp(&mut buf[..n])
            } else {
                let other = into.unprotect_rtp_into(&buf[..n], &mut out);
                let opened = rx.unprotect_rtp(&mut buf[..n]);
                assert_eq!(opened, other);
                if let Ok(m) = other {
                    assert_eq!(&out[..m], packet);
                }
                opened
            };
            // A repeated sequence number is a replay to the receiver.
            if let Ok(m) = opened {
                assert_eq!(&buf[..m], packet);
            }
        } else {
            let opened = if rtcp {
                rx.unprotect_rtcp(&mut buf[..packet.len()])
            } else {
                let mut out = [0u8; 4200];
                let other = into.unprotect_rtp_into(packet, &mut out);
                let opened = rx.unprotect_rtp(&mut buf[..packet.len()]);
                assert_eq!(opened, other);
                opened
            };
            if let Ok(m) = opened {
                assert!(m <= packet.len());
            }
        }
    }
});
