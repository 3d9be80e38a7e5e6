// Headless Chromium opens the page of an example that reports its outcome in
// `window.kaonResult` (ice-single-port, trickle-ice, ice-restart), for tests/example_*.rs.
//
// Usage: node example_page.mjs URL
//
// Waits for `window.kaonResult` ({ok, ...what the page measured}) and prints it as one JSON
// line, {"ev":"done",...} or {"ev":"error",...}, with the page's log lines (`#log div`) when it
// has them; exits 0 when `ok` is true.
//
// Launch flags as in example.mjs: the fake media flags and --allow-loopback-in-peer-connection,
// with the page's getUserMedia call, make Chromium offer a 127.0.0.1 host candidate.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url] = process.argv.slice(2);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const userDataDir = mkdtempSync(join(tmpdir(), 'kaon-chromium-'));
let context, page, code = 1;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.KAON_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection',
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  await page.goto(url);
  await page.waitForFunction(() => window.kaonResult !== undefined, null, { timeout: 45000 });
  const result = await page.evaluate(() => window.kaonResult);
  const log = await page.$$eval('#log div', (ds) => ds.map((d) => d.textContent)).catch(() => []);
  emit({ ev: result.ok ? 'done' : 'error', ...result, log });
  code = result.ok ? 0 : 1;
} catch (e) {
  const note = page ? await page.textContent('#note').catch(() => '') : '';
  const log = page ? await page.$$eval('#log div', (ds) => ds.map((d) => d.textContent)).catch(() => []) : [];
  emit({ ev: 'error', what: String(e && e.message || e), note, log });
} finally {
  try { if (context) await context.close(); } catch {}
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(code);
}
