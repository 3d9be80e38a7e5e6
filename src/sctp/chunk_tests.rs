use super::*;
use crate::sctp::param::tests::arb_param;
use crate::sctp::param::{Param, write_all};
use proptest::prelude::*;

fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

fn bytes(max: usize) -> impl Strategy<Value = &'static [u8]> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(leak)
}

fn arb_data(idata: bool) -> impl Strategy<Value = Chunk<'static>> {
    (
        any::<u32>(),
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<[bool; 4]>(),
        bytes(64),
    )
        .prop_map(
            move |(tsn, stream, seq, ppid, fsn, [u, b, e, i], payload)| {
                let mut d = Data {
                    tsn,
                    stream,
                    ssn_or_mid: seq,
                    ppid,
                    fsn,
                    unordered: u,
                    begin: b,
                    end: e,
                    immediate: i,
                    payload,
                };
                if idata {
                    // I-DATA carries the PPID on the first fragment and the FSN on the others.
                    if b {
                        d.fsn = 0
                    } else {
                        d.ppid = 0
                    }
                    Chunk::IData(d)
                } else {
                    d.ssn_or_mid &= 0xffff;
                    d.fsn = 0;
                    Chunk::Data(d)
                }
            },
        )
}

fn arb_init() -> impl Strategy<Value = Init<'static>> {
    (
        any::<[u32; 3]>(),
        any::<[u16; 2]>(),
        proptest::collection::vec(arb_param(), 0..4),
    )
        .prop_map(|([tag, rwnd, tsn], [os, mis], params)| {
            let mut buf = vec![0u8; params.iter().map(Param::encoded_len).sum()];
            write_all(&params, &mut Writer::new(&mut buf)).unwrap();
            Init {
                initiate_tag: tag,
                a_rwnd: rwnd,
                outbound_streams: os,
                inbound_streams: mis,
                initial_tsn: tsn,
                params: leak(buf),
            }
        })
}

fn arb_forward(interleaved: bool) -> impl Strategy<Value = ForwardTsn> {
    (
        any::<u32>(),
        proptest::collection::vec((any::<u16>(), any::<u32>(), any::<bool>()), 0..6),
    )
        .prop_map(move |(new_cum_tsn, s)| ForwardTsn {
            new_cum_tsn,
            streams: s
                .into_iter()
                .map(|(stream, seq, u)| SkippedStream {
                    stream,
                    ssn_or_mid: if interleaved { seq } else { seq & 0xffff },
                    unordered: interleaved && u,
                })
                .collect(),
        })
}

fn arb_chunk() -> impl Strategy<Value = Chunk<'static>> {
    let sack = (
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec(any::<(u16, u16)>(), 0..10),
        proptest::collection::vec(any::<u32>(), 0..6),
    )
        .prop_map(|(cum_tsn, a_rwnd, g, d)| {
            Chunk::Sack(Sack {
                cum_tsn,
                a_rwnd,
                gaps: g
                    .into_iter()
                    .map(|(start, end)| GapBlock { start, end })
                    .collect(),
                dups: d.into_iter().collect(),
            })
        });
    prop_oneof![
        arb_data(false),
        arb_data(true),
        arb_init().prop_map(Chunk::Init),
        arb_init().prop_map(Chunk::InitAck),
        sack,
        bytes(40).prop_map(Chunk::Heartbeat),
        bytes(40).prop_map(Chunk::HeartbeatAck),
        (any::<bool>(), bytes(40)).prop_map(|(t, c)| Chunk::Abort {
            reflected: t,
            causes: c
        }),
        any::<u32>().prop_map(|c| Chunk::Shutdown { cum_tsn: c }),
        Just(Chunk::ShutdownAck),
        bytes(40).prop_map(Chunk::Error),
        bytes(80).prop_map(Chunk::CookieEcho),
        Just(Chunk::CookieAck),
        any::<bool>().prop_map(|t| Chunk::ShutdownComplete { reflected: t }),
        arb_forward(false).prop_map(Chunk::ForwardTsn),
        arb_forward(true).prop_map(Chunk::IForwardTsn),
        bytes(40).prop_map(Chunk::Reconfig),
        (15u8..64, any::<u8>(), bytes(40)).prop_map(|(k, f, v)| Chunk::Unknown {
            kind: k,
            flags: f,
            value: v
        }),
    ]
}

proptest! {
    #[test]
    fn every_chunk_round_trips(chunks in proptest::collection::vec(arb_chunk(), 1..6)) {
        let mut buf = vec![0u8; 4096];
        let mut w = Writer::new(&mut buf);
        for c in &chunks {
            c.write(&mut w).unwrap();
        }
        let n = w.position();
        prop_assert_eq!(n, chunks.iter().map(Chunk::encoded_len).sum::<usize>());
        let mut r = Reader::new(&buf[..n]);
        for c in &chunks {
            prop_assert_eq!(&Chunk::read(&mut r).unwrap(), c);
        }
        prop_assert!(r.is_empty());
    }

    #[test]
    fn any_bytes_parse_or_fail_without_panic(data: Vec<u8>) {
        let mut r = Reader::new(&data);
        while !r.is_empty() {
            if Chunk::read(&mut r).is_err() {
                break;
            }
        }
        for c in Causes::new(&data) {
            let _ = c;
        }
    }

    #[test]
    fn causes_round_trip(c in proptest::collection::vec((any::<u16>(), bytes(20)), 0..5)) {
        let causes: Vec<Cause<'_>> = c.into_iter().map(|(code, info)| Cause { code, info }).collect();
        let mut buf = vec![0u8; 512];
        let mut w = Writer::new(&mut buf);
        for c in &causes {
            c.write(&mut w).unwrap();
        }
        let n = w.position();
        let back: Vec<_> = Causes::new(&buf[..n]).map(Result::unwrap).collect();
        prop_assert_eq!(back, causes);
    }
}

#[test]
fn data_chunk_matches_rfc_layout() {
    let d = Chunk::Data(Data {
        tsn: 0x0102_0304,
        stream: 5,
        ssn_or_mid: 6,
        ppid: 51,
        fsn: 0,
        unordered: true,
        begin: true,
        end: true,
        immediate: false,
        payload: b"hi",
    });
    let mut buf = [0u8; 32];
    let mut w = Writer::new(&mut buf);
    d.write(&mut w).unwrap();
    assert_eq!(
        w.written(),
        &[
            0, 0x07, 0, 18, 1, 2, 3, 4, 0, 5, 0, 6, 0, 0, 0, 51, b'h', b'i', 0, 0
        ]
    );
}

#[test]
fn short_chunk_length_is_an_error() {
    assert!(Chunk::read(&mut Reader::new(&[11, 0, 0, 2])).is_err());
    assert!(
        Chunk::read(&mut Reader::new(&[
            3, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0
        ]))
        .is_err()
    );
}

#[test]
fn write_that_does_not_fit_writes_nothing() {
    let mut buf = [0u8; 6];
    let mut w = Writer::new(&mut buf);
    assert!(Chunk::Shutdown { cum_tsn: 1 }.write(&mut w).is_err());
    assert_eq!(w.position(), 0);
}
