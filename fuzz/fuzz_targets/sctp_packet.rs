//! Any bytes, parsed as an SCTP packet, its chunks, their parameters and error causes, and as
//! a DCEP message: a value or a typed error, never a panic; whatever parses writes back.
#![no_main]
use kaon::datachannel::dcep::Dcep;
use kaon::sctp::chunk::{Causes, Chunk};
use kaon::sctp::packet::{Packet, checksum_ok};
use kaon::sctp::param::Params;
use kaon::wire::Writer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut scratch = Vec::new();
    let _ = checksum_ok(data, &mut scratch);
    let _ = Dcep::parse(data);
    for p in Params::new(data) {
        let _ = p;
    }
    let Ok(pkt) = Packet::parse(data) else { return };
    let mut out = vec![0u8; 70_000];
    for c in pkt.chunks() {
        let Ok(c) = c else { break };
        match &c {
            Chunk::Init(i) | Chunk::InitAck(i) => Params::new(i.params).for_each(drop),
            Chunk::Reconfig(p) | Chunk::Heartbeat(p) | Chunk::HeartbeatAck(p) => {
                Params::new(p).for_each(drop)
            }
            Chunk::Abort { causes, .. } | Chunk::Error(causes) => Causes::new(causes).for_each(drop),
            _ => {}
        }
        // Re-encoding a parsed chunk works and parses back to the same chunk.
        let mut w = Writer::new(&mut out);
        c.write(&mut w).expect("a parsed chunk re-encodes");
        let n = w.position();
        let again = Chunk::read(&mut kaon::wire::Reader::new(&out[..n])).expect("re-parses");
        assert_eq!(again, c);
    }
});
