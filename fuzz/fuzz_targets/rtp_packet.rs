//! Any bytes as an RTP packet: the checked view parses or gives a typed error; on a packet
//! that parses, every getter, extension iteration and typed lookup runs, the in-place setters
//! on a copy change only what they set, and the packet rebuilt through the builder reads back
//! the same.
#![no_main]
use kaon::rtp::{ExtensionKind, ExtensionMap, ExtensionValue, RtpBuilder, RtpPacket};
use libfuzzer_sys::fuzz_target;

fn map() -> ExtensionMap {
    let mut map = ExtensionMap::new();
    for (i, kind) in ExtensionKind::ALL.into_iter().enumerate() {
        map.insert(i as u8 + 1, kind);
    }
    map.insert(200, ExtensionKind::TransportCc);
    map
}

fuzz_target!(|data: &[u8]| {
    let map = map();
    let Ok(p) = RtpPacket::new_checked(data) else {
        return;
    };
    assert_eq!(
        p.header_len() + p.payload().len() + p.padding_len(),
        data.len()
    );
    let elements: Vec<(u8, &[u8])> = p.extensions().map(|e| (e.id, e.data)).collect();
    for (id, value) in p.extension_values(&map) {
        assert!(elements.iter().any(|(i, _)| *i == id));
        let _ = value.len();
    }
    let _ = (
        p.mid(&map),
        p.rid(&map),
        p.repaired_rid(&map),
        p.abs_send_time(&map),
    );
    let _ = (
        p.transport_cc(&map),
        p.audio_level(&map),
        p.video_orientation(&map),
    );
    let _ = p.playout_delay(&map);
    let csrcs: Vec<u32> = p.csrcs().collect();

    // Setters on a copy: the fixed fields change, the rest stays.
    let mut copy = data.to_vec();
    let mut q = RtpPacket::new_checked(&mut copy[..]).expect("the same bytes parse");
    q.set_ssrc(!p.ssrc());
    q.set_sequence_number(p.sequence_number().wrapping_add(1));
    q.set_payload_type(p.payload_type() ^ 0x55);
    q.set_timestamp(p.timestamp().wrapping_add(3000));
    q.set_marker(!p.marker());
    for (k, (id, d)) in elements.iter().enumerate() {
        if elements[..k].iter().any(|(i, _)| i == id) {
            continue; // lookups by id find the first element with it
        }
        let filled = vec![0xa5; d.len()];
        q.set_extension(*id, &filled)
            .expect("an element that iterates can be rewritten");
    }
    let _ = q.set_extension_value(&map, &ExtensionValue::TransportCc(7));
    let _ = q.set_extension_value(&map, &ExtensionValue::Mid("x"));
    assert_eq!(q.ssrc(), !p.ssrc());
    assert_eq!(q.payload_type(), (p.payload_type() ^ 0x55) & 0x7f);
    assert_eq!(q.payload(), p.payload());
    assert_eq!(q.csrcs().collect::<Vec<_>>(), csrcs);
    let ids: Vec<(u8, usize)> = q.extensions().map(|e| (e.id, e.data.len())).collect();
    assert_eq!(
        ids,
        elements
            .iter()
            .map(|(i, d)| (*i, d.len()))
            .collect::<Vec<_>>()
    );

    // Rebuilt, the packet reads back the same (the extension form may change).
    let exts: Vec<(u8, ExtensionValue<'_>)> = elements
        .iter()
        .map(|(i, d)| (*i, ExtensionValue::Raw(d)))
        .collect();
    let b = RtpBuilder::new(p.header())
        .csrcs(&csrcs)
        .extensions(&exts)
        .payload(p.payload())
        .padding(p.padding_len() as u8);
    let mut out = vec![0; b.len()];
    if b.write(&mut out).is_ok() {
        let r = RtpPacket::new_checked(&out[..]).expect("what the builder writes parses");
        assert_eq!(r.header(), p.header());
        assert_eq!(r.payload(), p.payload());
        assert_eq!(r.padding_len(), p.padding_len());
        let again: Vec<(u8, &[u8])> = r.extensions().map(|e| (e.id, e.data)).collect();
        assert_eq!(again, elements);
    }
});
