// Makes doc/online-now.png, the picture of Online now in the README: six
// people register in their own browser contexts, four upload a picture, and
// the first one's screen is taken. Not a test; run it by hand after a
// change to the look of the client:
//
//   MUNITYD=_build/src/munityd node tests/browser/make-doc-screenshot.mjs
import { join } from 'node:path';
import {
  checkPrerequisites, Daemon, launchBrowser, makePng, registerThroughUi, sleep, SOURCE_ROOT, uniqueEmail,
  waitForOnline,
} from './lib.mjs';

const PEOPLE = [
  ['Ada', 'Lovelace', [58, 92, 204]],
  ['Grace', 'Hopper', null],
  ['Alan', 'Turing', [31, 157, 85]],
  ['Katherine', 'Johnson', [204, 92, 58]],
  ['Edsger', 'Dijkstra', null],
  ['Margaret', 'Hamilton', [140, 70, 190]],
];

checkPrerequisites();
const daemon = new Daemon();
let browser = null;
try {
  await daemon.start();
  browser = await launchBrowser();
  const pages = [];
  const ids = [];
  for (const [first, last, color] of PEOPLE) {
    const context = await browser.newContext({ viewport: { width: 1024, height: 470 } });
    const page = await context.newPage();
    const me = await registerThroughUi(page, daemon.url, { first, last, email: uniqueEmail(first.toLowerCase()) });
    ids.push(me.id);
    if (color) {
      await page.evaluate(async (base64) => {
        const body = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
        const response = await fetch('/api/me/avatar', { method: 'POST', headers: { 'Content-Type': 'image/png' }, body });
        if (!response.ok) throw new Error(`POST /api/me/avatar: ${response.status} ${await response.text()}`);
      }, makePng(96, color).toString('base64'));
    }
    pages.push(page);
  }
  await waitForOnline(pages[0], ids);
  await sleep(800);
  const path = join(SOURCE_ROOT, 'doc', 'online-now.png');
  await pages[0].screenshot({ path });
  console.log(`wrote ${path}`);
} finally {
  await browser?.close();
  await daemon.dispose();
}
