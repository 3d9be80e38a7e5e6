//! Any bytes: the Ogg Opus reader gives headers and packets or a typed error, never panics;
//! the packets it reads write back to a file that reads the same packets.
#![no_main]
use kaon::media::file::ogg::{OggOpusReader, OggOpusWriter, OggPage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = OggPage::parse(data);
    let Ok(reader) = OggOpusReader::new(data) else {
        return;
    };
    let (head, tags) = (reader.head().clone(), reader.tags().clone());
    let packets: Vec<_> = reader.map_while(Result::ok).map(|p| p.data).collect();
    let mut w = OggOpusWriter::new(&head, &tags, 7);
    for p in &packets {
        w.write_packet(p);
    }
    let file = w.finish();
    let again = OggOpusReader::new(&file).unwrap();
    assert_eq!(again.head(), &head);
    let back: Vec<_> = again.map(|p| p.unwrap().data).collect();
    assert_eq!(back, packets);
});
