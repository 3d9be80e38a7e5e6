//! Arbitrary read sequences over arbitrary bytes never panic and never overrun.
#![no_main]
use kaon::wire::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ops, input)) = data.split_first() else {
        return;
    };
    let mut r = Reader::new(input);
    for i in 0..16u8 {
        let _ = match ops.rotate_left(u32::from(i)) % 6 {
            0 => r.u8().map(u64::from),
            1 => r.u16().map(u64::from),
            2 => r.u24().map(u64::from),
            3 => r.u48(),
            4 => r.bytes(usize::from(i) * 3).map(|b| b.len() as u64),
            _ => r.sub(usize::from(ops)).map(|s| s.remaining() as u64),
        };
        assert!(r.position() <= input.len());
    }
});
