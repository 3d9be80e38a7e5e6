// Headless Chromium opens the page of `examples/data-channels.rs --serve` and chats once, for
// tests/example_data_channels.rs.
//
// Usage: node example.mjs URL [TEXT]
//
// Waits for the page's channel to open and for kaon's greeting, sends TEXT (default "hello from
// chromium") through the page's form and waits for kaon's echo. Prints one JSON line,
// {"ev":"done","log":[...]} or {"ev":"error","what","log"}, and exits 0 or 1.
//
// Launch flags as in peer.mjs: the fake media flags and --allow-loopback-in-peer-connection,
// with the page's getUserMedia call, make Chromium offer a 127.0.0.1 host candidate.
// KAON_PLAIN=1 leaves them out (what a browser without microphone access offers: mDNS names).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, text = 'hello from chromium'] = process.argv.slice(2);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const plain = process.env.KAON_PLAIN === '1';
const userDataDir = mkdtempSync(join(tmpdir(), 'kaon-chromium-'));
let context, page, code = 1;
const pageLog = async () => {
  try { return await page.$$eval('#log div', (ds) => ds.map((d) => d.textContent)); } catch { return []; }
};
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.KAON_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(plain ? [] : ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
        '--allow-loopback-in-peer-connection']),
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  await page.goto(url);
  const seen = (t) => page.waitForFunction(
    (t) => [...document.querySelectorAll('#log div')].some((d) => d.textContent === t), t, { timeout: 20000 });
  await page.waitForSelector('#text:not([disabled])', { timeout: 20000 });
  await page.waitForFunction(
    () => [...document.querySelectorAll('#log .kaon')].some((d) => d.textContent.startsWith('kaon: hello from kaon')),
    null, { timeout: 10000 });
  await page.fill('#text', text);
  await page.click('#send');
  await seen('kaon: echo: ' + text);
  emit({ ev: 'done', log: await pageLog() });
  code = 0;
} catch (e) {
  emit({ ev: 'error', what: String(e && e.message || e), log: await pageLog(),
    state: page ? await page.textContent('#state').catch(() => '') : '' });
} finally {
  try { if (context) await context.close(); } catch {}
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(code);
}
