#!/usr/bin/env bash
# Captures a real Chromium DTLS ClientHello into tests/fixtures/dtls/ (how the
# chromium-*-client-hello-*.bin fixtures were made). Two RTCPeerConnections in one headless
# page connect over loopback; tcpdump records the UDP traffic; the first DTLS ClientHello's
# datagrams are written out as they were on the wire.
#
# Needs: apt-get install -y --no-install-recommends chromium tcpdump python3 (root for tcpdump).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'kill "$tcpdump_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/page.html" <<'HTML'
<!doctype html><html><body><script>
(async () => {
  await navigator.mediaDevices.getUserMedia({audio: true}); // exposes loopback candidates
  const pc1 = new RTCPeerConnection({iceServers: []});
  const pc2 = new RTCPeerConnection({iceServers: []});
  pc1.onicecandidate = e => e.candidate && pc2.addIceCandidate(e.candidate);
  pc2.onicecandidate = e => e.candidate && pc1.addIceCandidate(e.candidate);
  pc1.createDataChannel("x");
  await pc1.setLocalDescription(await pc1.createOffer());
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription(await pc2.createAnswer());
  await pc1.setRemoteDescription(pc2.localDescription);
})();
</script></body></html>
HTML
tcpdump -i lo -U -w "$work/cap.pcap" udp >/dev/null 2>&1 &
tcpdump_pid=$!
sleep 1
timeout 15 chromium --headless --no-sandbox --disable-gpu --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --use-fake-ui-for-media-stream \
  --use-fake-device-for-media-stream --allow-loopback-in-peer-connection \
  "file://$work/page.html" >/dev/null 2>&1 || true
kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true
version="$(chromium --version | grep -oE '[0-9]+' | head -1)"
python3 - "$work/cap.pcap" "$repo/tests/fixtures/dtls/chromium-$version-client-hello" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
assert struct.unpack('<I', data[:4])[0] == 0xa1b2c3d4 and struct.unpack('<I', data[20:24])[0] == 1
off, hello = 24, []
while off + 16 <= len(data):
    incl = struct.unpack('<IIII', data[off:off + 16])[2]
    ip = data[off + 16 + 14:off + 16 + incl]
    off += 16 + incl
    if ip[0] >> 4 != 4 or ip[9] != 17:
        continue
    udp = ip[(ip[0] & 15) * 4 + 8:]
    # A DTLS handshake record carrying ClientHello fragments of message_seq 0.
    if len(udp) > 25 and udp[0] == 22 and udp[13] == 1 and udp[17:19] == b'\0\0':
        if hello and udp == hello[-1]:
            continue
        hello.append(udp)
        total = int.from_bytes(udp[14:17], 'big')
        got = sum(int.from_bytes(d[22:25], 'big') for d in hello)
        if got >= total:
            break
for i, d in enumerate(hello, 1):
    open(f'{sys.argv[2]}-{i}.bin', 'wb').write(d)
    print(f'{sys.argv[2]}-{i}.bin: {len(d)} bytes')
PY
