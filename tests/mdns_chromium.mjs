// Headless Chromium with its default mDNS obfuscation, for tests/mdns_chromium.rs. Unlike
// tests/interop/chromium/peer.mjs it asks for no media and passes no loopback flag, so
// Chromium hides its host addresses behind <uuid>.local names, as for any web page.
//
// Usage: node mdns_chromium.mjs PLAYWRIGHT_CORE_DIR   (JSON lines on stdin/stdout)
// Commands: {"cmd":"offer"} -> {"ev":"offer","sdp"}; {"cmd":"answer","sdp"}; {"cmd":"send","text"};
//   {"cmd":"quit"}. Events: {"ev":"ready"}, {"ev":"open"}, {"ev":"message","text"},
//   {"ev":"state","state"}, {"ev":"error","what"}.
// Contacts no outside host: no ICE servers; the page is served from 127.0.0.1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

const { chromium } = await import(pathToFileURL(join(process.argv[2], 'index.mjs')).href);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const PAGE = `<!doctype html><title>kaon mdns</title><script>
let pc, dc;
async function offer() {
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.onconnectionstatechange = () => report({ ev: 'state', state: pc.connectionState });
  dc = pc.createDataChannel('chat');
  dc.onopen = () => report({ ev: 'open' });
  dc.onmessage = (m) => report({ ev: 'message', text: String(m.data) });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    setTimeout(resolve, 5000);
  });
  return pc.localDescription.sdp;
}
async function answer(sdp) { await pc.setRemoteDescription({ type: 'answer', sdp }); }
function send(text) { dc.send(text); }
</script>`;

const server = createServer((_, res) => { res.setHeader('content-type', 'text/html'); res.end(PAGE); });
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const userDataDir = mkdtempSync(join(tmpdir(), 'kaon-mdns-chromium-'));
let context;
const cleanup = async () => {
  try { if (context) await context.close(); } catch {}
  rmSync(userDataDir, { recursive: true, force: true });
  server.close();
};
setTimeout(async () => { emit({ ev: 'error', what: 'mdns_chromium.mjs timed out' }); await cleanup(); process.exit(2); }, 90000).unref();
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.KAON_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.exposeFunction('report', (obj) => emit(obj));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  emit({ ev: 'ready', ua: await page.evaluate(() => navigator.userAgent) });
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    try {
      if (m.cmd === 'quit') break;
      else if (m.cmd === 'offer') emit({ ev: 'offer', sdp: await page.evaluate(() => offer()) });
      else if (m.cmd === 'answer') await page.evaluate((s) => answer(s), m.sdp);
      else if (m.cmd === 'send') await page.evaluate((t) => send(t), m.text);
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
