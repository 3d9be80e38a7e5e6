// Headless Chromium as the remote peer of tests/peer_chromium.rs.
//
// Usage: node peer.mjs [--mdns]   (driven by the Rust test over stdin/stdout, one JSON object a
// line). With --mdns Chromium keeps its default privacy: no loopback flag, no fake devices and
// no getUserMedia, so its host candidates are `<uuid>.local` names (run it in a namespace with
// a default route, or it gathers no host candidate at all).
//
// Commands in (stdin):
//   {"cmd":"offer","channels":[{"label":"chat","ordered":true}],"media":["audio","video"],"recv":["video"]}
//                                   -> page adds the channels and (optionally) fake camera and
//                                      microphone tracks, offers, reports {"ev":"offer"}; also
//                                      for a re-offer on a live connection; "recv" adds
//                                      receive-only transceivers
//   {"cmd":"answer","sdp":...}      -> page applies kaon's answer, reports {"ev":"answered"}
//   {"cmd":"remote-offer","sdp":...} -> page answers kaon's offer, reports {"ev":"answer"}
//   {"cmd":"transceivers"}          -> reports {"ev":"transceivers","list":"mid kind dir,..."}
//                                      (dir: currentDirection, or "stopped")
//   {"cmd":"reset"}                 -> closes the connection and starts a fresh one, {"ev":"reset"}
//   {"cmd":"send","label":L,"text":T} or {"cmd":"send","label":L,"binary":N} (N bytes, pattern)
//   {"cmd":"burst","label":L,"n":N}  -> sends "burst i/N" for i = 0..N-1; on receiving such a
//                                       run the page reports {"ev":"burst","n","inOrder"}
//   {"cmd":"close","label":L}         -> closes that channel
//   {"cmd":"channels","labels":[L..]} -> opens these channels on the live connection, together
//   {"cmd":"interleave","labels":[L..],"n":N} -> sends "L i" on each channel in turn, i = 0..N-1
//   {"cmd":"pc-close"}                -> closes the whole RTCPeerConnection
//   {"cmd":"stats"}                   -> reports {"ev":"stats"}: DTLS role, version, cipher, pair
//   {"cmd":"media-stats"}             -> reports {"ev":"media-stats","inbound":[..],"outbound":[..]}:
//                                        per RTP stream its kind, packets, bytes, frames decoded,
//                                        nack/pli/fir counts, packets lost
//   {"cmd":"add-track","kind":K}      -> adds a fake camera or microphone track, {"ev":"track-added"}
//   {"cmd":"bwe-stats"}               -> reports {"ev":"bwe-stats","available","rtt","bytes","frames"}:
//                                        availableOutgoingBitrate (bit/s) and currentRoundTripTime of
//                                        the nominated pair, outbound video bytes and frames encoded
//   {"cmd":"recv-offer","kinds":[K..]} -> adds a recvonly transceiver per kind (Pion's play-from-disk
//                                        page), offers, reports {"ev":"offer"}
//   {"cmd":"send-offer","kinds":[K..],"video":C} -> fake camera/microphone tracks sent on sendonly
//                                        transceivers, video codecs reordered to put C (VP8, VP9,
//                                        AV1, H264) first; reports {"ev":"offer"}
//   {"cmd":"stop-tracks"}             -> stops every track we send (framesSent stays final),
//                                        reports {"ev":"tracks-stopped"}
//   {"cmd":"open-page","id":I,"url":U} -> opens U in another page of the same browser (a server's
//                                        own page, one peer per page), {"ev":"page-opened","id"}
//   {"cmd":"page-eval","id":I,"expr":E} -> evaluates E in that page (awaited), {"ev":"page-eval",
//                                        "id","value"}: the result as JSON text
//   {"cmd":"close-page","id":I}       -> closes that page, {"ev":"page-closed","id"}
//   {"cmd":"quit"}
// Events out (stdout): {"ev":"ready"}, {"ev":"open","label"}, {"ev":"message","label",
//   "binary","len","text"|"ok"}, {"ev":"closed","label"}, {"ev":"state","state"} (connection),
//   {"ev":"ice","state"}, {"ev":"pc-closed","state","channels"}, {"ev":"error"},
//   {"ev":"track","kind","mid"} (a remote track; it is played into a muted media element).
// A binary message of N bytes carries byte i = (i * 7 + N) % 256, so both sides can check it.
//
// Contacts no outside host: no ICE servers. The page comes from a server on 127.0.0.1 because
// getUserMedia needs a secure context; getUserMedia (with the fake-device flags and
// --allow-loopback-in-peer-connection) is what makes Chromium gather 127.0.0.1 candidates.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const PAGE = `<!doctype html><title>kaon</title><script>
const channels = new Map();
let pc;
const MDNS = __MDNS__;
const pattern = (n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (i * 7 + n) % 256; return b; };
function wire(dc) {
  dc.binaryType = 'arraybuffer';
  channels.set(dc.label, dc);
  dc.onopen = () => report({ ev: 'open', label: dc.label, id: dc.id, ordered: dc.ordered });
  dc.onclose = () => report({ ev: 'closed', label: dc.label });
  dc.onerror = (e) => report({ ev: 'error', what: 'channel ' + dc.label + ': ' + (e.error && e.error.message) });
  let next = 0, inOrder = true;
  dc.onmessage = (m) => {
    // No regular expression here: this page lives in a template literal, which eats backslashes.
    const burst = typeof m.data === 'string' && m.data.startsWith('burst ') && m.data.slice(6).split('/');
    if (burst) {
      // Counted here, reported once: "burst i/n" must come in order, i = 0..n-1.
      const [i, n] = [Number(burst[0]), Number(burst[1])];
      if (i !== next) inOrder = false;
      next = i + 1;
      if (next === n) { report({ ev: 'burst', label: dc.label, n, inOrder }); next = 0; inOrder = true; }
    } else if (typeof m.data === 'string') {
      report({ ev: 'message', label: dc.label, binary: false, len: m.data.length, text: m.data });
    } else {
      const got = new Uint8Array(m.data), want = pattern(got.length);
      let ok = true;
      for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) { ok = false; break; }
      report({ ev: 'message', label: dc.label, binary: true, len: got.length, ok });
    }
  };
}
const gathered = () => new Promise((resolve) => {
  if (pc.iceGatheringState === 'complete') return resolve();
  pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
  // With mDNS names Chromium completes gathering only once its responder has registered
  // each name, which took over 5 s on a loaded CI machine: wait longer then.
  setTimeout(resolve, MDNS ? 20000 : 5000);
});
async function init() {
  if (!MDNS) {
    // Unlocks loopback host candidates; the track is not sent (data only).
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    stream.getTracks().forEach((t) => t.stop());
  }
  fresh();
}
function fresh() {
  channels.clear();
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.onconnectionstatechange = () => report({ ev: 'state', state: pc.connectionState });
  pc.oniceconnectionstatechange = () => report({ ev: 'ice', state: pc.iceConnectionState });
  pc.ondatachannel = (e) => wire(e.channel);
  pc.ontrack = (e) => {
    // Played (muted) so the receive pipeline runs as in a call.
    const el = document.createElement(e.track.kind);
    el.muted = true;
    el.autoplay = true;
    el.srcObject = new MediaStream([e.track]);
    document.body.appendChild(el);
    el.play().catch(() => {});
    report({ ev: 'track', kind: e.track.kind, mid: e.transceiver.mid });
  };
}
async function addTrack(kind) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: kind === 'audio', video: kind === 'video' });
  for (const t of stream.getTracks()) pc.addTrack(t, stream);
}
async function mediaStats() {
  const stats = await pc.getStats();
  const inbound = [], outbound = [];
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp') inbound.push({ kind: s.kind, mid: s.mid ?? '', ssrc: s.ssrc, packets: s.packetsReceived ?? 0, bytes: s.bytesReceived ?? 0, lost: s.packetsLost ?? 0, frames: s.framesDecoded ?? 0, keyframes: s.keyFramesDecoded ?? 0, nack: s.nackCount ?? 0, pli: s.pliCount ?? 0, fir: s.firCount ?? 0, jitter: s.jitter ?? 0 });
    if (s.type === 'outbound-rtp') outbound.push({ kind: s.kind, mid: s.mid ?? '', ssrc: s.ssrc, packets: s.packetsSent ?? 0, bytes: s.bytesSent ?? 0, frames: s.framesEncoded ?? 0, nack: s.nackCount ?? 0, pli: s.pliCount ?? 0, fir: s.firCount ?? 0, sent: s.framesSent ?? 0, retransmitted: s.retransmittedPacketsSent ?? 0, retransmittedBytes: s.retransmittedBytesSent ?? 0 });
  });
  return { ev: 'media-stats', inbound: JSON.stringify(inbound), outbound: JSON.stringify(outbound) };
}
// The received video's loss and playout: what a steady jitter buffer looks like in getStats.
async function playoutStats() {
  const stats = await pc.getStats();
  const r = { ev: 'playout-stats', packets: 0, lost: 0, bytes: 0, frames: 0, dropped: 0, delay: 0, emitted: 0, freezes: 0, nack: 0 };
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      r.packets += s.packetsReceived ?? 0; r.lost += s.packetsLost ?? 0; r.bytes += s.bytesReceived ?? 0;
      r.frames += s.framesDecoded ?? 0; r.dropped += s.framesDropped ?? 0; r.nack += s.nackCount ?? 0;
      r.delay += s.jitterBufferDelay ?? 0; r.emitted += s.jitterBufferEmittedCount ?? 0; r.freezes += s.freezeCount ?? 0;
    }
  });
  return r;
}
async function bweStats() {
  const stats = await pc.getStats();
  let available = 0, rtt = 0, bytes = 0, frames = 0;
  stats.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && s.availableOutgoingBitrate !== undefined) {
      available = s.availableOutgoingBitrate;
      rtt = s.currentRoundTripTime ?? 0;
    }
    if (s.type === 'outbound-rtp' && s.kind === 'video') { bytes += s.bytesSent ?? 0; frames += s.framesEncoded ?? 0; }
  });
  return { ev: 'bwe-stats', available, rtt, bytes, frames };
}
async function makeOffer(list, media, recv) {
  // Receive-only transceivers: the page wants media without sending any.
  for (const kind of recv || []) pc.addTransceiver(kind, { direction: 'recvonly' });
  if (media && media.length) {
    // Fake camera and microphone (the fake-device flags): real tracks, sent if accepted.
    const stream = await navigator.mediaDevices.getUserMedia({ audio: media.includes('audio'), video: media.includes('video') });
    for (const t of stream.getTracks()) pc.addTrack(t, stream);
  }
  for (const c of list || []) wire(pc.createDataChannel(c.label, { ordered: c.ordered !== false }));
  await pc.setLocalDescription(await pc.createOffer());
  await gathered();
  return pc.localDescription.sdp;
}
async function recvOffer(kinds) {
  for (const k of kinds) pc.addTransceiver(k, { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered();
  return pc.localDescription.sdp;
}
async function sendOffer(kinds, video) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: kinds.includes('audio'), video: kinds.includes('video') });
  for (const t of stream.getTracks()) {
    const tr = pc.addTransceiver(t, { direction: 'sendonly', streams: [stream] });
    if (t.kind === 'video' && video) {
      const all = RTCRtpReceiver.getCapabilities('video').codecs;
      const want = 'video/' + video.toLowerCase();
      tr.setCodecPreferences([...all.filter((c) => c.mimeType.toLowerCase() === want), ...all.filter((c) => c.mimeType.toLowerCase() !== want)]);
    }
  }
  await pc.setLocalDescription(await pc.createOffer());
  await gathered();
  return pc.localDescription.sdp;
}
function stopTracks() {
  for (const s of pc.getSenders()) if (s.track) s.track.stop();
}
async function takeAnswer(sdp) { await pc.setRemoteDescription({ type: 'answer', sdp }); }
async function answerOffer(sdp) {
  await pc.setRemoteDescription({ type: 'offer', sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered();
  return pc.localDescription.sdp;
}
function send(label, text, binary) {
  const dc = channels.get(label);
  if (!dc || dc.readyState !== 'open') throw new Error('channel ' + label + ' is not open');
  dc.send(text !== undefined ? text : pattern(binary));
}
function burst(label, n) {
  const dc = channels.get(label);
  for (let i = 0; i < n; i++) dc.send("burst " + i + "/" + n);
}
function closeChannel(label) { channels.get(label).close(); }
function openChannels(labels) { for (const l of labels) wire(pc.createDataChannel(l)); }
function interleave(labels, n) {
  for (let i = 0; i < n; i++) for (const l of labels) send(l, l + ' ' + i);
}
function transceivers() {
  return pc.getTransceivers().map((t) => t.mid + ' ' + t.receiver.track.kind + ' ' + (t.stopped ? 'stopped' : t.currentDirection)).join(',');
}
function reset() {
  pc.close();
  fresh();
}
function closeConnection() {
  pc.close();
  // pc.close() fires no connectionstatechange on the closing side: report the final states.
  report({ ev: 'pc-closed', state: pc.connectionState, channels: [...channels.values()].map((c) => c.readyState).join(',') });
}
async function transport() {
  const stats = await pc.getStats();
  let t, pair;
  stats.forEach((s) => { if (s.type === 'transport') t = s; });
  if (t && t.selectedCandidatePairId) pair = stats.get(t.selectedCandidatePairId);
  const addr = (id) => { const c = id && stats.get(id); return c ? c.protocol + ' ' + c.address + ':' + c.port : ''; };
  return {
    ev: 'stats', dtlsRole: t?.dtlsRole ?? '', tlsVersion: t?.tlsVersion ?? '', dtlsCipher: t?.dtlsCipher ?? '',
    dtlsState: t?.dtlsState ?? '', local: addr(pair?.localCandidateId), remote: addr(pair?.remoteCandidateId),
  };
}
</script>`;

const mdns = process.argv.includes('--mdns');
const server = createServer((_, res) => {
  res.setHeader('content-type', 'text/html');
  res.end(PAGE.replace('__MDNS__', String(mdns)));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/`;
const userDataDir = mkdtempSync(join(tmpdir(), 'kaon-chromium-'));
let context;
const cleanup = async () => {
  try { if (context) await context.close(); } catch {}
  rmSync(userDataDir, { recursive: true, force: true });
  server.close();
};
// The test kills us if anything hangs; stdin closing (the test died) also ends us.
setTimeout(async () => { emit({ ev: 'error', what: 'peer.mjs timed out' }); await cleanup(); process.exit(2); }, 120000).unref();

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.KAON_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(mdns ? [] : [
        '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
        '--allow-loopback-in-peer-connection',
      ]),
      // Extra flags a test asks for (field trials, a fake capture file), space-separated.
      ...(process.env.KAON_CHROMIUM_FLAGS ?? '').split(' ').filter(Boolean),
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.exposeFunction('report', (obj) => emit(obj));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') process.stderr.write(`console ${m.type()}: ${m.text()}\n`); });
  await page.goto(url);
  await page.evaluate(() => init());
  emit({ ev: 'ready', ua: await page.evaluate(() => navigator.userAgent) });

  // Pages of other servers (examples that serve their own page), by the test's id for them.
  const pages = new Map();
  const otherPage = (id) => {
    const p = pages.get(id);
    if (!p) throw new Error('no page ' + id);
    return p;
  };

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    try {
      if (m.cmd === 'quit') break;
      else if (m.cmd === 'offer') emit({ ev: 'offer', sdp: await page.evaluate(([l, media, recv]) => makeOffer(l, media, recv), [m.channels, m.media, m.recv]) });
      else if (m.cmd === 'answer') { await page.evaluate((s) => takeAnswer(s), m.sdp); emit({ ev: 'answered' }); }
      else if (m.cmd === 'transceivers') emit({ ev: 'transceivers', list: await page.evaluate(() => transceivers()) });
      else if (m.cmd === 'reset') { await page.evaluate(() => reset()); emit({ ev: 'reset' }); }
      else if (m.cmd === 'remote-offer') emit({ ev: 'answer', sdp: await page.evaluate((s) => answerOffer(s), m.sdp) });
      else if (m.cmd === 'send') await page.evaluate(([l, t, b]) => send(l, t, b), [m.label, m.text, m.binary]);
      else if (m.cmd === 'burst') await page.evaluate(([l, n]) => burst(l, n), [m.label, m.n]);
      else if (m.cmd === 'stats') emit(await page.evaluate(() => transport()));
      else if (m.cmd === 'media-stats') emit(await page.evaluate(() => mediaStats()));
      else if (m.cmd === 'bwe-stats') emit(await page.evaluate(() => bweStats()));
      else if (m.cmd === 'playout-stats') emit(await page.evaluate(() => playoutStats()));
      else if (m.cmd === 'add-track') { await page.evaluate((k) => addTrack(k), m.kind); emit({ ev: 'track-added' }); }
      else if (m.cmd === 'recv-offer') emit({ ev: 'offer', sdp: await page.evaluate((k) => recvOffer(k), m.kinds) });
      else if (m.cmd === 'send-offer') emit({ ev: 'offer', sdp: await page.evaluate(([k, v]) => sendOffer(k, v), [m.kinds, m.video]) });
      else if (m.cmd === 'stop-tracks') { await page.evaluate(() => stopTracks()); emit({ ev: 'tracks-stopped' }); }
      else if (m.cmd === 'close') await page.evaluate((l) => closeChannel(l), m.label);
      else if (m.cmd === 'channels') await page.evaluate((l) => openChannels(l), m.labels);
      else if (m.cmd === 'interleave') await page.evaluate(([l, n]) => interleave(l, n), [m.labels, m.n]);
      else if (m.cmd === 'pc-close') await page.evaluate(() => closeConnection());
      else if (m.cmd === 'open-page') {
        const p = await context.newPage();
        p.on('console', (c) => { if (c.type() === 'error' || c.type() === 'warning') process.stderr.write(`page ${m.id} console ${c.type()}: ${c.text()}\n`); });
        await p.goto(m.url);
        pages.set(m.id, p);
        emit({ ev: 'page-opened', id: m.id });
      }
      else if (m.cmd === 'page-eval') emit({ ev: 'page-eval', id: m.id, value: JSON.stringify(await otherPage(m.id).evaluate(m.expr)) });
      else if (m.cmd === 'close-page') { await otherPage(m.id).close(); pages.delete(m.id); emit({ ev: 'page-closed', id: m.id }); }
      else emit({ ev: 'error', what: 'unknown command ' + m.cmd });
    } catch (e) {
      emit({ ev: 'error', what: `${m.cmd}: ${e.message}` });
    }
  }
} catch (e) {
  emit({ ev: 'error', what: String(e && e.stack || e) });
} finally {
  await cleanup();
  // stdin is still referenced after the loop ends: exit rather than wait on it.
  process.exit(0);
}
