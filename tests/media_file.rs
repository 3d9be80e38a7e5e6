//! Media files: write then read round-trips for IVF, Ogg Opus and Annex B, and any bytes give
//! a value or a typed error, never a panic.

use kaon::media::codec::Codec;
use kaon::media::file::annexb::{AnnexBReader, write_access_unit};
use kaon::media::file::ivf::{IvfHeader, IvfReader, write_frame};
use kaon::media::file::ogg::{
    OggOpusReader, OggOpusWriter, OggPage, OpusHead, OpusTags, opus_packet_samples,
};
use proptest::prelude::*;

fn head() -> OpusHead {
    OpusHead {
        version: 1,
        channels: 2,
        pre_skip: 312,
        input_sample_rate: 48_000,
        output_gain: 0,
        mapping_family: 0,
        mapping: None,
    }
}

proptest! {
    #[test]
    fn ivf_write_then_read_round_trips(frames in prop::collection::vec((any::<u64>(), prop::collection::vec(any::<u8>(), 0..2000)), 0..20), w: u16, h: u16) {
        let header = IvfHeader { fourcc: *b"VP90", width: w, height: h, timebase_den: 30, timebase_num: 1, frame_count: frames.len() as u32 };
        let mut file = Vec::new();
        header.write(&mut file);
        for (pts, f) in &frames {
            write_frame(&mut file, *pts, f);
        }
        let r = IvfReader::new(&file).unwrap();
        prop_assert_eq!(r.header(), &header);
        prop_assert_eq!(r.header().codec(), Some(Codec::Vp9));
        let read: Vec<(u64, Vec<u8>)> = r.map(|f| f.map(|f| (f.pts, f.data.to_vec()))).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(read, frames);
    }

    #[test]
    fn ogg_opus_write_then_read_round_trips(packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..3000), 0..6), comments in prop::collection::vec("[a-z]{1,8}=[a-z ]{0,20}", 0..4)) {
        let tags = OpusTags { vendor: "kaon".into(), comments };
        let mut w = OggOpusWriter::new(&head(), &tags, 0x1234_5678);
        for p in &packets {
            w.write_packet(p);
        }
        let file = w.finish();
        let r = OggOpusReader::new(&file).unwrap();
        prop_assert_eq!(r.head(), &head());
        prop_assert_eq!(r.tags(), &tags);
        let read: Vec<_> = r.collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(read.len(), packets.len());
        let mut granule = 0u64;
        for (got, sent) in read.iter().zip(&packets) {
            prop_assert_eq!(&got.data, sent);
            granule += u64::from(opus_packet_samples(sent).unwrap_or(0));
            prop_assert_eq!(got.granule, Some(granule));
        }
    }

    #[test]
    fn annexb_access_units_round_trip(units in prop::collection::vec((any::<bool>(), prop::collection::vec(1u8..=255, 1..300)), 1..10)) {
        // Each access unit: an SPS-less non-IDR slice with first_mb_in_slice = 0, optionally
        // preceded by an SEI.
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (sei, body) in &units {
            let mut au = Vec::new();
            if *sei {
                au.extend_from_slice(&[0, 0, 0, 1, 0x06, 5, 1, 0x80]);
            }
            au.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x80 | (body[0] >> 1)]);
            au.extend_from_slice(body);
            write_access_unit(&mut stream, &au);
            expected.push(au);
        }
        let read: Vec<&[u8]> = AnnexBReader::new(&stream, false).collect();
        prop_assert_eq!(read, expected.iter().map(|a| &a[..]).collect::<Vec<_>>());
    }

    #[test]
    fn any_bytes_never_panic_a_file_parser(data in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(r) = IvfReader::new(&data) {
            for f in r { let _ = f; }
        }
        if let Ok(r) = OggOpusReader::new(&data) {
            for p in r { let _ = p; }
        }
        let _ = OggPage::parse(&data);
        let _ = (OpusHead::parse(&data), OpusTags::parse(&data), opus_packet_samples(&data));
        for hevc in [false, true] {
            let total: usize = AnnexBReader::new(&data, hevc).map(|au| au.len()).sum();
            prop_assert!(total <= data.len());
        }
    }
}

#[test]
fn a_packet_larger_than_a_page_spans_pages() {
    let big: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = OggOpusWriter::new(&head(), &OpusTags::default(), 9);
    w.write_packet(&big);
    w.write_packet(&[31 << 3, 1, 2]);
    let file = w.finish();
    let read: Vec<_> = OggOpusReader::new(&file)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].data, big);
    assert_eq!(read[1].data, vec![31 << 3, 1, 2]);
}

#[test]
fn a_damaged_ogg_page_fails_its_crc() {
    let mut file = OggOpusWriter::new(&head(), &OpusTags::default(), 1).finish();
    file[30] ^= 1;
    assert!(OggOpusReader::new(&file).is_err());
}

#[test]
fn opus_toc_gives_the_packet_duration() {
    // RFC 6716 §3.1: config 3 is SILK NB 60 ms; config 31 CELT FB 20 ms; code 1 doubles it.
    assert_eq!(opus_packet_samples(&[3 << 3]), Some(2880));
    assert_eq!(opus_packet_samples(&[31 << 3]), Some(960));
    assert_eq!(opus_packet_samples(&[(31 << 3) | 1]), Some(1920));
    assert_eq!(
        opus_packet_samples(&[(16 << 3) | 3, 48]),
        Some(5760),
        "120 ms is the limit"
    );
    assert_eq!(
        opus_packet_samples(&[(19 << 3) | 3, 7]),
        None,
        "over 120 ms"
    );
}
