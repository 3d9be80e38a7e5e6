// Headless Chromium relay-only (iceTransportPolicy 'relay') as the remote peer of
// tests/turn_chromium.rs, driven over one JSON object a line on stdin/stdout.
//
// Usage: node turn_chromium.mjs PLAYWRIGHT_CORE_DIR ICE_SERVERS_JSON [EXTRA_CHROMIUM_ARGS_JSON]
//
// Commands in: {"cmd":"offer"} -> a "chat" channel, an offer with every relay candidate
//   (after gathering), {"ev":"offer","sdp"}; {"cmd":"answer","sdp"} -> {"ev":"answered"};
//   {"cmd":"candidate","line"} -> addIceCandidate; {"cmd":"send","text"}; {"cmd":"stats"} ->
//   {"ev":"stats","local","remote"} (candidate types of the selected pair); {"cmd":"quit"}.
// Events out: {"ev":"ready"}, {"ev":"open"}, {"ev":"message","text"}, {"ev":"state","state"},
//   {"ev":"candidate-error","code","text"}, {"ev":"error","what"}.
//
// Contacts no outside host: the only ICE servers are the test's, on 127.0.0.1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

const { chromium } = await import(pathToFileURL(join(process.argv[2], 'index.mjs')).href);
const iceServers = JSON.parse(process.argv[3]);
const extraArgs = process.argv[4] ? JSON.parse(process.argv[4]) : [];
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const PAGE = `<!doctype html><title>kaon turn</title><script>
let pc, dc;
function start(iceServers) {
  pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: 'relay' });
  pc.onconnectionstatechange = () => report({ ev: 'state', state: pc.connectionState });
  pc.onicecandidateerror = (e) => report({ ev: 'candidate-error', code: e.errorCode, text: e.errorText, url: e.url });
  dc = pc.createDataChannel('chat');
  dc.onopen = () => report({ ev: 'open' });
  dc.onmessage = (m) => report({ ev: 'message', text: String(m.data) });
}
const gathered = () => new Promise((resolve) => {
  if (pc.iceGatheringState === 'complete') return resolve();
  pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
  setTimeout(resolve, 10000);
});
async function offer() {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered();
  return pc.localDescription.sdp;
}
async function stats() {
  const s = await pc.getStats();
  let t;
  s.forEach((x) => { if (x.type === 'transport') t = x; });
  const pair = t && t.selectedCandidatePairId && s.get(t.selectedCandidatePairId);
  const kind = (id) => { const c = id && s.get(id); return c ? c.candidateType + ' ' + (c.relayProtocol || '') : ''; };
  return { ev: 'stats', local: kind(pair && pair.localCandidateId), remote: kind(pair && pair.remoteCandidateId) };
}
</script>`;

const server = createServer((_, res) => {
  res.setHeader('content-type', 'text/html');
  res.end(PAGE);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const userDataDir = mkdtempSync(join(tmpdir(), 'kaon-turn-chromium-'));
let context;
const cleanup = async () => {
  try { if (context) await context.close(); } catch {}
  rmSync(userDataDir, { recursive: true, force: true });
  server.close();
};
setTimeout(async () => { emit({ ev: 'error', what: 'turn_chromium.mjs timed out' }); await cleanup(); process.exit(2); }, 90000).unref();

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.KAON_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--allow-loopback-in-peer-connection',
      ...extraArgs,
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.exposeFunction('report', (obj) => emit(obj));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.evaluate((s) => start(s), iceServers);
  emit({ ev: 'ready' });
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    try {
      if (m.cmd === 'quit') break;
      else if (m.cmd === 'offer') emit({ ev: 'offer', sdp: await page.evaluate(() => offer()) });
      else if (m.cmd === 'answer') { await page.evaluate((s) => pc.setRemoteDescription({ type: 'answer', sdp: s }), m.sdp); emit({ ev: 'answered' }); }
      else if (m.cmd === 'candidate') await page.evaluate((c) => pc.addIceCandidate({ candidate: c, sdpMid: '0' }), m.line);
      else if (m.cmd === 'send') await page.evaluate((t) => dc.send(t), m.text);
      else if (m.cmd === 'stats') emit(await page.evaluate(() => stats()));
      else emit({ ev: 'error', what: 'unknown command ' + m.cmd });
    } catch (e) {
      emit({ ev: 'error', what: `${m.cmd}: ${e.message}` });
    }
  }
} catch (e) {
  emit({ ev: 'error', what: String(e && e.stack || e) });
} finally {
  await cleanup();
  process.exit(0);
}
