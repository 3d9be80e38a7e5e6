//! The minimal peer whose size the crate docs report, run as a process: it answers a kaon-std
//! peer's offer from stdin and echoes its messages.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, SdpType};
use kaon::sdp::SessionDescription;

/// `cargo test` builds the examples beside the test binaries' directory, named
/// `min_peer-HASH`: the newest one is this build's.
fn example() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?.join("examples");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("min_peer-") && !name.contains('.')
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
        .filter(|p| {
            // Built by this same `cargo test` (a filtered run such as `--test min_peer` does
            // not rebuild examples, and an old binary proves nothing).
            let age = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            age(p)
                .zip(age(&exe))
                .is_some_and(|(example, test)| example + Duration::from_secs(600) >= test)
        })
}

#[test]
fn min_peer_answers_and_echoes() {
    let Some(path) = example() else {
        println!(
            "skipped: no fresh min_peer example (run `cargo test -p kaon-embedded` without a \
             target filter so that examples are built)"
        );
        return;
    };
    let client = kaon_std::PeerConnection::new(
        PeerConfig::default(),
        vec![std::net::UdpSocket::bind("127.0.0.1:0").unwrap()],
    )
    .unwrap();
    let channel = client
        .create_data_channel("echo", ChannelConfig::default())
        .unwrap();
    let offer = client.create_offer().unwrap();
    client
        .set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let mut child = Command::new(path)
        .arg("127.0.0.1:0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(offer.to_string().as_bytes()).unwrap();
    } // closed: the peer reads to the end
    // Read on a thread so that a silent peer cannot hang the test.
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut answer = String::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(30)) {
        if line.trim().is_empty() {
            break;
        }
        answer.push_str(&line);
        answer.push_str("\r\n");
    }
    let result = (|| -> Result<(), String> {
        let answer = SessionDescription::parse(&answer).map_err(|e| e.to_string())?;
        client
            .set_remote_description(SdpType::Answer, answer)
            .map_err(|e| e.to_string())?;
        if !channel
            .wait_open_timeout(Duration::from_secs(20))
            .map_err(|e| e.to_string())?
        {
            return Err("never opened".into());
        }
        for i in 0..5 {
            let text = format!("min {i}");
            channel.send_text(&text).map_err(|e| e.to_string())?;
            let back = channel
                .recv_timeout(Duration::from_secs(10))
                .map_err(|e| e.to_string())?;
            if back.data != text.as_bytes() {
                return Err(format!("echo {i} differs"));
            }
        }
        Ok(())
    })();
    // Ours to end: by its handle, which holds its pid.
    let _ = child.kill();
    let _ = child.wait();
    result.expect("min_peer echoes");
}
