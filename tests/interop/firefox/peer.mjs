// Headless Firefox ESR as the remote peer of tests/peer_firefox.rs, driven over WebDriver BiDi
// by puppeteer-core (which downloads no browser when given an executablePath).
//
// Usage: node peer.mjs [--default]   (driven by the Rust test process over stdin/stdout, one
// JSON object a line; the test runs us inside a network namespace of its own, see
// tests/common/firefox.rs). One browser serves a whole test process: each test gets a page of
// its own (one RTCPeerConnection a page), named by the "page" number in its commands, and
// every event a page reports carries that number. Commands of one page run in order; pages
// run side by side. With --default Firefox keeps the ICE settings users run: host addresses
// hidden behind `<uuid>.local` names (mDNS), no loopback candidates, no camera or microphone
// grant. Without it the profile grants the fake camera and microphone and turns the
// obfuscation off, so Firefox's candidates carry its veth address.
//
// Commands in (stdin), each with "page":P:
//   {"cmd":"new-page"}              -> opens the page, reports {"ev":"page-ready"}
//   {"cmd":"close-page"}            -> closes its connection and the page, {"ev":"page-closed"}
//   {"cmd":"offer","channels":[{"label":"chat","ordered":true}],"media":["audio","video"]}
//                                   -> page adds the channels and (optionally) fake camera and
//                                      microphone tracks, offers, reports {"ev":"offer"}
//   {"cmd":"answer","sdp":...}      -> page applies kaon's answer, reports {"ev":"answered"}
//   {"cmd":"remote-offer","sdp":...} -> page answers kaon's offer, reports {"ev":"answer"}
//   {"cmd":"reset"}                 -> closes the connection and starts a fresh one, {"ev":"reset"}
//   {"cmd":"send","label":L,"text":T} or {"cmd":"send","label":L,"binary":N} (N bytes, pattern)
//   {"cmd":"close","label":L}       -> closes that channel
//   {"cmd":"pc-close"}              -> closes the whole RTCPeerConnection, {"ev":"pc-closed"}
//   {"cmd":"stats"}                 -> {"ev":"stats"}: the transport's DTLS state, version and
//                                      cipher, the selected pair
//   {"cmd":"media-stats"}           -> {"ev":"media-stats","inbound":[..],"outbound":[..]}
// Events out (stdout): {"ev":"ready","ua"} (no page: the browser), and per page
//   {"ev":"open","label","id","ordered"}, {"ev":"message","label","binary","len","text"|"ok"},
//   {"ev":"closed","label"}, {"ev":"state","state"}, {"ev":"ice","state"},
//   {"ev":"track","kind","mid"}, {"ev":"error","what"}. stdin closing ends the browser.
// A binary message of N bytes carries byte i = (i * 7 + N) % 256, so both sides can check it.
//
// Firefox's pitfalls, found on Debian's firefox-esr 153:
// - It phones home at start (updates, telemetry, safe browsing, captive portal, remote
//   settings, OpenH264 download, DNS over HTTPS). The prefs below turn those off, and the test
//   runs Firefox in a namespace whose only routes are loopback and a veth to kaon, with
//   nftables rejecting anything else: nothing leaves the machine even if a pref is missed.
//   With these prefs the fence sees only DNS queries to the host's resolver (a couple of dozen
//   datagrams over a session, rejected at once); no HTTP connection is attempted.
// - Loopback candidates need media.peerconnection.ice.loopback=true; we do not use loopback
//   (kaon sits behind the veth), but without a camera grant Firefox gathers only the address
//   of its default route and hides it behind an mDNS name whatever the other prefs say.
// - In a namespace without a default route Firefox thinks it is offline and reports ICE
//   "disconnected" right after connecting; network.manage-offline-status=false stops that, and
//   the namespace has a default route (through the veth) so that Firefox gathers at all.
// - It ends its offers and answers with a=end-of-candidates (Chromium sends none).
// - No ICE servers: nothing public is contacted for STUN.
import puppeteer from 'puppeteer-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const PAGE = `<!doctype html><title>kaon</title><script>
const channels = new Map();
let pc;
const pattern = (n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (i * 7 + n) % 256; return b; };
function wire(dc) {
  dc.binaryType = 'arraybuffer';
  channels.set(dc.label, dc);
  dc.onopen = () => report({ ev: 'open', label: dc.label, id: dc.id, ordered: dc.ordered });
  dc.onclose = () => report({ ev: 'closed', label: dc.label });
  dc.onmessage = (m) => {
    if (typeof m.data === 'string') {
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
  setTimeout(resolve, 5000);
});
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
async function makeOffer(list, media) {
  if (media && media.length) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: media.includes('audio'), video: media.includes('video') });
    for (const t of stream.getTracks()) pc.addTrack(t, stream);
  }
  for (const c of list || []) wire(pc.createDataChannel(c.label, { ordered: c.ordered !== false }));
  await pc.setLocalDescription(await pc.createOffer());
  await gathered();
  return pc.localDescription.sdp;
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
function closeChannel(label) { channels.get(label).close(); }
function reset() { pc.close(); fresh(); }
function closeConnection() {
  pc.close();
  report({ ev: 'pc-closed', state: pc.connectionState, channels: [...channels.values()].map((c) => c.readyState).join(',') });
}
async function transport() {
  const stats = await pc.getStats();
  let t, pair;
  stats.forEach((s) => {
    if (s.type === 'transport') t = s;
    if (s.type === 'candidate-pair' && (s.selected || s.nominated) && s.state === 'succeeded') pair = s;
  });
  if (t && t.selectedCandidatePairId) pair = stats.get(t.selectedCandidatePairId);
  const addr = (id) => { const c = id && stats.get(id); return c ? c.protocol + ' ' + c.address + ':' + c.port : ''; };
  return {
    ev: 'stats', hasTransport: !!t, dtlsRole: t?.dtlsRole ?? '', tlsVersion: t?.tlsVersion ?? '', dtlsCipher: t?.dtlsCipher ?? '',
    srtpCipher: t?.srtpCipher ?? '', dtlsState: t?.dtlsState ?? '', local: addr(pair?.localCandidateId), remote: addr(pair?.remoteCandidateId),
  };
}
async function mediaStats() {
  const stats = await pc.getStats();
  const inbound = [], outbound = [];
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp') inbound.push({ kind: s.kind, mid: s.mid ?? '', ssrc: s.ssrc, packets: s.packetsReceived ?? 0, bytes: s.bytesReceived ?? 0, lost: s.packetsLost ?? 0, frames: s.framesDecoded ?? 0, nack: s.nackCount ?? 0, pli: s.pliCount ?? 0 });
    if (s.type === 'outbound-rtp') outbound.push({ kind: s.kind, mid: s.mid ?? '', ssrc: s.ssrc, packets: s.packetsSent ?? 0, bytes: s.bytesSent ?? 0, frames: s.framesEncoded ?? 0, nack: s.nackCount ?? 0, pli: s.pliCount ?? 0 });
  });
  return { ev: 'media-stats', inbound: JSON.stringify(inbound), outbound: JSON.stringify(outbound) };
}
</script>`;

const byDefault = process.argv.includes('--default');
// Keeps Firefox from contacting anything (the namespace would drop it anyway) and from
// spending the test's time on first-run work.
const quiet = {
  'app.update.enabled': false,
  'app.update.auto': false,
  'app.update.disabledForTesting': true,
  'app.normandy.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'browser.startup.page': 0,
  'browser.newtabpage.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  'browser.region.network.url': '',
  'browser.region.update.enabled': false,
  'browser.search.update': false,
  'browser.ping-centre.telemetry': false,
  'datareporting.healthreport.uploadEnabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.usage.uploadEnabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.server': '',
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'extensions.blocklist.enabled': false,
  'geo.provider.network.url': '',
  'media.gmp-manager.updateEnabled': false,
  'media.gmp-manager.url': '',
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.trr.mode': 5,
  'services.settings.server': 'http://127.0.0.1:9/',
  'network.manage-offline-status': false,
};
const media = {
  'media.navigator.permission.disabled': true,
  'media.navigator.streams.fake': true,
  'media.autoplay.default': 0,
};
// Candidates carrying the veth address: a camera/microphone grant, no mDNS names, every
// interface rather than the default route's only.
const revealing = byDefault ? {} : {
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.peerconnection.ice.default_address_only': false,
  'media.peerconnection.ice.loopback': true,
};

const server = createServer((_, res) => {
  res.setHeader('content-type', 'text/html');
  res.end(PAGE);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
// A secure context (getUserMedia needs one): 127.0.0.1 counts as potentially trustworthy.
const url = `http://127.0.0.1:${server.address().port}/`;
const profile = mkdtempSync(join(tmpdir(), 'kaon-firefox-'));
let browser;
const cleanup = async () => {
  try { if (browser) await browser.close(); } catch {}
  // Firefox's last child processes may still be writing the profile (glean, caches).
  try { rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }); } catch {}
  server.close();
};
// stdin closing (the test process ended, however it ended) ends us.

try {
  browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.KAON_FIREFOX ?? '/usr/bin/firefox-esr',
    headless: true,
    userDataDir: profile,
    extraPrefsFirefox: { ...quiet, ...media, ...revealing },
    args: ['--no-remote'],
    protocolTimeout: 60000,
  });
  emit({ ev: 'ready', ua: await browser.userAgent() });

  const pages = new Map();
  const chains = new Map();
  const handle = async (m) => {
    const id = m.page;
    const out = (obj) => emit({ ...obj, page: id });
    try {
      if (m.cmd === 'new-page') {
        const page = await browser.newPage();
        await page.exposeFunction('report', (obj) => out(obj));
        page.on('console', (c) => { if (c.type() === 'error' || c.type() === 'warn') process.stderr.write(`page ${id} console ${c.type()}: ${c.text()}\n`); });
        await page.goto(url);
        await page.evaluate(() => fresh());
        pages.set(id, page);
        return out({ ev: 'page-ready' });
      }
      const page = pages.get(id);
      if (!page) throw new Error('no page ' + id);
      if (m.cmd === 'close-page') {
        pages.delete(id);
        await page.evaluate(() => pc.close()).catch(() => {});
        await page.close();
        out({ ev: 'page-closed' });
      }
      else if (m.cmd === 'offer') out({ ev: 'offer', sdp: await page.evaluate((l, media) => makeOffer(l, media), m.channels, m.media) });
      else if (m.cmd === 'answer') { await page.evaluate((s) => takeAnswer(s), m.sdp); out({ ev: 'answered' }); }
      else if (m.cmd === 'remote-offer') out({ ev: 'answer', sdp: await page.evaluate((s) => answerOffer(s), m.sdp) });
      else if (m.cmd === 'reset') { await page.evaluate(() => reset()); out({ ev: 'reset' }); }
      else if (m.cmd === 'send') await page.evaluate((l, t, b) => send(l, t, b), m.label, m.text, m.binary);
      else if (m.cmd === 'close') await page.evaluate((l) => closeChannel(l), m.label);
      else if (m.cmd === 'pc-close') await page.evaluate(() => closeConnection());
      else if (m.cmd === 'stats') out(await page.evaluate(() => transport()));
      else if (m.cmd === 'media-stats') out(await page.evaluate(() => mediaStats()));
      else out({ ev: 'error', what: 'unknown command ' + m.cmd });
    } catch (e) {
      out({ ev: 'error', what: `${m.cmd}: ${e.message}` });
    }
  };

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    // In order within a page, side by side across pages.
    const next = (chains.get(m.page) ?? Promise.resolve()).then(() => handle(m));
    chains.set(m.page, next);
  }
} catch (e) {
  emit({ ev: 'error', what: String(e && e.stack || e) });
} finally {
  await cleanup();
  // stdin is still referenced after the loop ends: exit rather than wait on it.
  process.exit(0);
}
