// Captures offers from headless Chromium for the SDP fixtures (a one-off; the fixtures are
// committed). Usage: node chromium_sdp.mjs OUTDIR
// Contacts no outside host: no ICE servers; the page comes from a server on 127.0.0.1, because
// getUserMedia needs a secure context and about:blank is not one.
import { chromium } from 'playwright-core';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';

const out = process.argv[2] ?? '.';
const server = createServer((_, res) => res.end('<!doctype html><title>kaon</title>'));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/`;
const userDataDir = mkdtempSync(join(tmpdir(), 'kaon-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(url);
  const result = await page.evaluate(async () => {
    const gathered = (pc) => new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') resolve();
      });
      setTimeout(resolve, 5000);
    });
    const offer = async (pc) => {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      return pc.localDescription.sdp;
    };

    const data = new RTCPeerConnection({ iceServers: [] });
    data.createDataChannel('chat');
    const dataOffer = await offer(data);

    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const av = new RTCPeerConnection({ iceServers: [] });
    av.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendrecv', streams: [stream] });
    av.addTransceiver(stream.getVideoTracks()[0], {
      direction: 'sendonly',
      streams: [stream],
      sendEncodings: [
        { rid: 'h' },
        { rid: 'm', scaleResolutionDownBy: 2 },
        { rid: 'l', scaleResolutionDownBy: 4 },
      ],
    });
    av.createDataChannel('chat');
    const avOffer = await offer(av);

    // An answer from Chromium to its own data offer, for the answer shape (setup:active).
    const answerer = new RTCPeerConnection({ iceServers: [] });
    await answerer.setRemoteDescription({ type: 'offer', sdp: dataOffer });
    await answerer.setLocalDescription(await answerer.createAnswer());
    await gathered(answerer);
    const dataAnswer = answerer.localDescription.sdp;
    return { dataOffer, avOffer, dataAnswer, ua: navigator.userAgent };
  });
  writeFileSync(join(out, 'chromium_data_offer.sdp'), result.dataOffer);
  writeFileSync(join(out, 'chromium_av_simulcast_offer.sdp'), result.avOffer);
  writeFileSync(join(out, 'chromium_data_answer.sdp'), result.dataAnswer);
  console.log(result.ua);
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
  server.close();
}
