//! Protect and unprotect do not allocate once an SSRC has state, and forged packets for new
//! SSRCs do not allocate either (they must not be a way to make a receiver grow).

use kaon::srtp::{Config, Context, Profile};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_protect_and_unprotect_do_not_allocate() {
    for profile in Profile::SUPPORTED {
        let key = vec![3u8; profile.key_len()];
        let salt = vec![4u8; profile.salt_len()];
        let mut tx = Context::new(profile, &key, &salt, &Config::default()).unwrap();
        let mut rx = Context::new(profile, &key, &salt, &Config::default()).unwrap();
        let mut buf = [0u8; 1500];
        let rtcp_header = [0x80, 200, 0, 6, 0, 0, 0, 9];
        // Warm up: the first packet of each kind creates the SSRC's state.
        let mut step = |seq: u16, buf: &mut [u8; 1500]| {
            buf[..12].copy_from_slice(&[0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            let n = tx.protect_rtp(buf, 1200).unwrap();
            assert_eq!(rx.unprotect_rtp(&mut buf[..n]).unwrap(), 1200);
            buf[..8].copy_from_slice(&rtcp_header);
            let n = tx.protect_rtcp(buf, 100).unwrap();
            assert_eq!(rx.unprotect_rtcp(&mut buf[..n]).unwrap(), 100);
        };
        step(65_000, &mut buf);
        let before = allocations();
        for seq in 65_001..=65_535u16 {
            step(seq, &mut buf);
        }
        for seq in 0..1000u16 {
            step(seq, &mut buf);
        }
        assert_eq!(
            allocations() - before,
            0,
            "{profile:?} allocated per packet"
        );

        // Forgeries from new SSRCs are refused without allocating.
        let before = allocations();
        for ssrc in 100..200u32 {
            buf[..12].copy_from_slice(&[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
            buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
            assert!(rx.unprotect_rtp(&mut buf[..200]).is_err());
        }
        assert_eq!(
            allocations() - before,
            0,
            "{profile:?} allocated for a forgery"
        );
    }
}
