//! Test certificates made with the openssl command line: a CA and a certificate for
//! 127.0.0.1 signed by it, for TURN over TLS tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory of a test's own, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kaon-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`) and a certificate for 127.0.0.1 signed by it (`server.pem`, `server.key`).
pub fn make_certificates(dir: &Path) {
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    let ca = format!(
        "req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=kaon-test-CA \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
    );
    openssl(dir, &ca.split_whitespace().collect::<Vec<_>>());
    let csr = format!("req {ec} -keyout server.key -out server.csr -subj /CN=127.0.0.1");
    openssl(dir, &csr.split_whitespace().collect::<Vec<_>>());
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let sign = "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                -out server.pem -days 2 -extfile ext.cnf";
    openssl(dir, &sign.split_whitespace().collect::<Vec<_>>());
}
