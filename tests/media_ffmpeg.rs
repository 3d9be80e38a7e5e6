//! Real media from ffmpeg: files made at test time (libvpx VP8 and VP9, libaom AV1, libx264,
//! libx265, libopus) are read by kaon (frame count, keyframes, width and height), every frame
//! is packetized and depacketized, the frames are written back to a file, and ffmpeg must
//! decode that file cleanly with the same frame count.
//!
//! Needs `ffmpeg` and `ffprobe` on the PATH: under `CI=true` a missing ffmpeg fails the test;
//! otherwise the test is skipped with a message.

use std::path::{Path, PathBuf};
use std::process::Command;

use kaon::media::codec::{
    Codec, Depacketizer, PacketInfo, Packetizer, PacketizerConfig, frame_info,
};
use kaon::media::file::annexb::{AnnexBReader, write_access_unit};
use kaon::media::file::ivf::{IvfReader, write_frame};
use kaon::media::file::ogg::{OggOpusReader, OggOpusWriter};

fn have_ffmpeg() -> bool {
    let ok = |tool: &str| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok("ffmpeg") && ok("ffprobe") {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("ffmpeg/ffprobe not found and CI=true: .ci/run installs ffmpeg");
    }
    eprintln!("skipping: ffmpeg/ffprobe not found (apt-get install ffmpeg)");
    false
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kaon-media-ffmpeg-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ffmpeg -v error -i F -f null -` must succeed and print nothing.
fn decodes_cleanly(file: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ffprobe_count(file: &Path, audio: bool) -> usize {
    let (count, entry) = if audio {
        ("-count_packets", "stream=nb_read_packets")
    } else {
        ("-count_frames", "stream=nb_read_frames")
    };
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            count,
            "-select_streams",
            if audio { "a:0" } else { "v:0" },
            "-show_entries",
            entry,
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe on {}: {:?}", file.display(), out))
}

/// Packetizes `frame` at `mtu` and depacketizes it again.
fn through_rtp(
    p: &mut Packetizer,
    d: &mut Depacketizer,
    frame: &[u8],
    mtu: usize,
    seq: &mut u16,
    ts: u32,
) -> Vec<u8> {
    let mut payloads = p.packetize(frame, mtu).unwrap();
    let mut buf = vec![0u8; mtu];
    let mut out = Vec::new();
    while let Some(r) = payloads.next_payload(&mut buf) {
        let r = r.unwrap();
        assert!(r.len <= mtu);
        d.push(
            &buf[..r.len],
            PacketInfo {
                seq: *seq,
                timestamp: ts,
                marker: r.marker,
            },
            &mut out,
        )
        .unwrap();
        *seq = seq.wrapping_add(1);
    }
    out
}

fn ivf_case(name: &str, codec: Codec, encoder: &[&str]) {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch(name);
    let src = dir.join("in.ivf");
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=30",
        "-t",
        "1",
    ];
    args.extend_from_slice(encoder);
    args.push(src.to_str().unwrap());
    ffmpeg(&args);
    let data = std::fs::read(&src).unwrap();
    let reader = IvfReader::new(&data).unwrap();
    let header = *reader.header();
    assert_eq!(header.codec(), Some(codec));
    assert_eq!((header.width, header.height), (320, 240));
    let frames: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(
        frames.len(),
        ffprobe_count(&src, false),
        "{name}: kaon and ffprobe agree on the frame count"
    );
    let first = frame_info(codec, frames[0].data);
    assert!(first.keyframe, "{name}: the first frame is a keyframe");
    assert_eq!(
        first.dimensions,
        Some((320, 240)),
        "{name}: size from the bitstream"
    );
    assert!(
        frames[1..]
            .iter()
            .any(|f| !frame_info(codec, f.data).keyframe)
    );
    for mtu in [200, 500, 1200] {
        let mut p = Packetizer::new(codec, PacketizerConfig::default());
        let mut d = Depacketizer::new(codec);
        let mut out = Vec::new();
        header.write(&mut out);
        let mut seq = 65_000;
        for (i, f) in frames.iter().enumerate() {
            let back = through_rtp(&mut p, &mut d, f.data, mtu, &mut seq, 3000 * i as u32);
            assert_eq!(back, f.data, "{name}: frame {i} at MTU {mtu}");
            write_frame(&mut out, f.pts, &back);
        }
        let dst = dir.join(format!("out-{mtu}.ivf"));
        std::fs::write(&dst, &out).unwrap();
        decodes_cleanly(&dst);
        assert_eq!(ffprobe_count(&dst, false), frames.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vp8_from_libvpx_survives_kaon() {
    ivf_case("vp8", Codec::Vp8, &["-c:v", "libvpx"]);
}

#[test]
fn vp9_from_libvpx_survives_kaon() {
    ivf_case(
        "vp9",
        Codec::Vp9,
        &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
        ],
    );
}

#[test]
fn av1_from_libaom_survives_kaon() {
    ivf_case("av1", Codec::Av1, &["-c:v", "libaom-av1", "-cpu-used", "8"]);
}

fn annexb_case(name: &str, codec: Codec, encoder: &[&str]) {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch(name);
    let src = dir.join(format!("in.{name}"));
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=30",
        "-t",
        "1",
    ];
    args.extend_from_slice(encoder);
    args.push(src.to_str().unwrap());
    ffmpeg(&args);
    let data = std::fs::read(&src).unwrap();
    let units: Vec<&[u8]> = AnnexBReader::for_codec(&data, codec).collect();
    assert_eq!(
        units.len(),
        ffprobe_count(&src, false),
        "{name}: access units = frames"
    );
    let first = frame_info(codec, units[0]);
    assert!(
        first.keyframe,
        "{name}: the first access unit is a keyframe"
    );
    assert_eq!(
        first.dimensions,
        Some((320, 240)),
        "{name}: size from the SPS"
    );
    for mtu in [200, 500, 1200] {
        let mut p = Packetizer::new(codec, PacketizerConfig::default());
        let mut d = Depacketizer::new(codec);
        let mut out = Vec::new();
        let mut seq = 1;
        for (i, au) in units.iter().enumerate() {
            let back = through_rtp(&mut p, &mut d, au, mtu, &mut seq, 3000 * i as u32);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            write_access_unit(&mut a, au);
            write_access_unit(&mut b, &back);
            assert_eq!(a, b, "{name}: access unit {i} at MTU {mtu}");
            write_access_unit(&mut out, &back);
        }
        let dst = dir.join(format!("out-{mtu}.{name}"));
        std::fs::write(&dst, &out).unwrap();
        decodes_cleanly(&dst);
        assert_eq!(ffprobe_count(&dst, false), units.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn h264_from_libx264_survives_kaon() {
    annexb_case(
        "h264",
        Codec::H264,
        &["-c:v", "libx264", "-preset", "ultrafast", "-f", "h264"],
    );
}

#[test]
fn h265_from_libx265_survives_kaon() {
    annexb_case(
        "h265",
        Codec::H265,
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
            "-f",
            "hevc",
        ],
    );
}

#[test]
fn opus_from_libopus_survives_kaon() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("opus");
    let src = dir.join("in.ogg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1",
        "-c:a",
        "libopus",
        src.to_str().unwrap(),
    ]);
    let data = std::fs::read(&src).unwrap();
    let reader = OggOpusReader::new(&data).unwrap();
    let head = reader.head().clone();
    let tags = reader.tags().clone();
    assert!(head.pre_skip > 0);
    let packets: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(packets.len(), ffprobe_count(&src, true));
    let mut p = Packetizer::new(Codec::Opus, PacketizerConfig::default());
    let mut d = Depacketizer::new(Codec::Opus);
    let mut w = OggOpusWriter::new(&head, &tags, 0x6b61_6f6e);
    let mut seq = 0;
    for (i, pkt) in packets.iter().enumerate() {
        let back = through_rtp(&mut p, &mut d, &pkt.data, 1200, &mut seq, 960 * i as u32);
        assert_eq!(back, pkt.data);
        w.write_packet(&back);
    }
    let dst = dir.join("out.ogg");
    std::fs::write(&dst, w.finish()).unwrap();
    decodes_cleanly(&dst);
    assert_eq!(ffprobe_count(&dst, true), packets.len());
    let _ = std::fs::remove_dir_all(&dir);
}
