// The Online now screen with a crowd, in a real Chromium against a real
// munityd (issue 14, doc/protocol.md §3 and §6): status going idle and back,
// last seen on a profile, search, order, the compact list on a phone, faces
// told apart in both themes, joins and leaves without layout shift, the
// "last updated" count while reconnecting and the state after an
// administrator's disconnect (D-Bus Disconnect on a private bus).
//
// The crowd is made of plain WebSocket connections from this process (one
// per user, each with its own session), so that a dozen people cost no
// browser pages. Screenshots of Online now and a profile, light and dark,
// desktop and phone, go to the artifacts directory.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  checkPrerequisites, Daemon, GRACE_MS, launchBrowser, makePng, onlineEntries, onlineIds, openSocket, recordSockets,
  registerByApi, registerThroughUi, screenshot, sleep, uniqueEmail, until, waitForOnline, watchPage,
} from './lib.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const IDLE_AFTER_MS = 1500;
const CROWD = [
  ['Zoë', 'Ångström'], ['Marie', 'Curie'], ['Alan', 'Turing'], ['Grace', 'Hopper'], ['Katherine', 'Johnson'],
  ['Edsger', 'Dijkstra'], ['Margaret', 'Hamilton'], ['Barbara', 'Liskov'], ['Donald', 'Knuth'],
  ['Hedy', 'Lamarr'], ['Claude', 'Shannon'], ['Radia', 'Perlman'],
];

// ---- a private session bus, for Disconnect ----------------------------------

async function startBus() {
  const child = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1', '--address=unix:tmpdir=/tmp'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  for await (const chunk of child.stdout) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  return { child, address: text.trim() };
}

// ---- what a page shows --------------------------------------------------------

const cardStatus = (page, id) => page.$eval(`[data-testid="online-list"] li[data-user-id="${id}"]`, (li) => li.dataset.status);
const summary = (page) => page.getByTestId('online-summary').textContent();

// Contrast of the initials on every face, from the computed colours.
function faceContrasts(page) {
  return page.$$eval('[data-testid="online-list"] .avatar--initials', (faces) => {
    const rgb = (text) => text.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map((c) => c / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
      .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
    return faces.map((face) => {
      const style = getComputedStyle(face);
      const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))].sort((x, y) => y - x);
      return { ratio: (a + 0.05) / (b + 0.05), background: style.backgroundColor, backLum: lum(rgb(style.backgroundColor)) };
    });
  });
}

describe('Online now with a crowd', { timeout: 5 * 60 * 1000 }, () => {
  let bus;
  let daemon;
  let browser;
  let pageA;     // Ada, the viewer
  let pageB;     // Bob, whose tab goes idle after IDLE_AFTER_MS
  let ada;
  let bob;
  const crowd = [];     // {user, socket}
  const problems = [];
  let sentByBob = [];

  const statusFrames = () => sentByBob.filter((f) => f.event === 'setStatus').map((f) => f.data.status);

  before(async () => {
    checkPrerequisites();
    bus = await startBus();
    daemon = new Daemon({ busAddress: bus.address });
    await daemon.start();
    browser = await launchBrowser();
    const contextA = await browser.newContext({ viewport: DESKTOP });
    const contextB = await browser.newContext({ viewport: DESKTOP });
    await contextB.addInitScript((ms) => localStorage.setItem('munity.idleAfterMs', String(ms)), IDLE_AFTER_MS);
    pageA = await contextA.newPage();
    pageB = await contextB.newPage();
    problems.push(watchPage(pageA, 'A'), watchPage(pageB, 'B'));
    sentByBob = recordSockets(pageB).sent;
  });

  after(async () => {
    for (const { socket } of crowd) socket.destroy();
    await browser?.close();
    await daemon?.dispose();
    bus?.child.kill('SIGTERM');
  });

  it('a crowd comes online, each face told apart in light and dark', async () => {
    ada = await registerThroughUi(pageA, daemon.url, { first: 'Ada', last: 'Lovelace', email: uniqueEmail('ada') });
    bob = await registerThroughUi(pageB, daemon.url, { first: 'Bob', last: 'Marley', email: uniqueEmail('bob') });
    for (const [first, last] of CROWD) {
      const user = await registerByApi(daemon.url, first, last);
      crowd.push({ user, socket: await openSocket(daemon.port, user) });
    }
    const everyone = [ada.id, bob.id, ...crowd.map((c) => c.user.id)];
    await waitForOnline(pageA, everyone);
    assert.equal(await pageA.getByTestId('online-count').textContent(), String(everyone.length));
    assert.equal(await summary(pageA), `${everyone.length} people are here right now.`);

    // The card says the name once, with the status.
    // (Not Bob: his tab may already be idle.)
    const marie = crowd[1].user;
    assert.equal(await pageA.getByRole('link', { name: 'Marie Curie, online', exact: true }).count(), 1);
    assert.equal(await pageA.locator(`li[data-user-id="${marie.id}"]`)
      .getByRole('link', { name: 'Marie Curie, online', exact: true }).count(), 1);
    assert.equal(await pageA.locator(`li[data-user-id="${ada.id}"]`)
      .getByRole('link', { name: 'Ada Lovelace (you), online', exact: true }).count(), 1);
    assert.equal(await pageA.locator(`li[data-user-id="${bob.id}"] .avatar--initials`).textContent(), 'BM');

    for (const scheme of ['light', 'dark']) {
      await pageA.emulateMedia({ colorScheme: scheme });
      const faces = await faceContrasts(pageA);
      assert.equal(faces.length, everyone.length);
      for (const face of faces) assert.ok(face.ratio >= 4.5, `${scheme}: initials on ${face.background} at ${face.ratio.toFixed(2)}:1`);
      assert.ok(new Set(faces.map((f) => f.background)).size >= 10, 'faces of many colours');
      if (scheme === 'dark') assert.ok(faces.every((f) => f.backLum < 0.1), 'no light disc in the dark theme');
      await screenshot(pageA, `crowd-online-${scheme}-desktop`);
    }
    await pageA.emulateMedia({ colorScheme: 'light' });
  });

  it('search by name and order A–Z or by who came last', async () => {
    const search = pageA.getByLabel('Search by name');
    await search.fill('zoe');
    await until(async () => (await onlineEntries(pageA)).length === 1, { what: 'one match' });
    assert.equal((await onlineEntries(pageA))[0].name, 'Zoë Ångström');
    assert.equal(await pageA.getByTestId('online-matches').textContent(), '1 person matches “zoe”.');
    await search.fill('qqq');
    await until(async () => (await onlineEntries(pageA)).length === 0, { what: 'no match' });
    assert.equal(await pageA.getByTestId('online-matches').textContent(), 'Nobody online matches “qqq”.');
    await search.fill('');
    await until(async () => (await onlineEntries(pageA)).length === CROWD.length + 2, { what: 'everyone again' });

    const names = async () => (await onlineEntries(pageA)).map((e) => e.name);
    const collator = new Intl.Collator('en', { sensitivity: 'base' });
    const others = ['Bob Marley', ...CROWD.map(([f, l]) => `${f} ${l}`)];
    assert.deepEqual(await names(), ['Ada Lovelace', ...[...others].sort(collator.compare)], 'A–Z, the viewer first');
    await pageA.getByLabel('Order').selectOption({ label: 'Recently joined' });
    await until(async () => (await names())[1] === 'Radia Perlman', { what: 'the newest first' });
    assert.deepEqual(await names(), ['Ada Lovelace', ...[...others].reverse()]);
    await pageA.getByLabel('Order').selectOption({ label: 'A–Z' });
  });

  it('a tab goes idle without input and when hidden, and is back on input', async () => {
    // Bob's page goes idle by itself after IDLE_AFTER_MS…
    await until(() => statusFrames().includes('idle'), { timeout: IDLE_AFTER_MS + 5000, what: 'Bob\'s tab to say idle' });
    await until(async () => (await cardStatus(pageA, bob.id)) === 'idle', { what: 'Bob idle on Ada\'s screen' });
    assert.equal(await pageA.locator(`li[data-user-id="${bob.id}"]`)
      .getByRole('link', { name: 'Bob Marley, idle', exact: true }).count(), 1);
    assert.equal(await pageA.locator(`li[data-user-id="${bob.id}"] .person__status`).textContent(), 'Idle');
    // …and online again on input.
    await pageB.mouse.move(50, 60);
    await pageB.mouse.move(80, 90);
    await until(async () => (await cardStatus(pageA, bob.id)) === 'online', { what: 'Bob online again' });
    assert.deepEqual(statusFrames(), ['idle', 'online']);

    // Hidden: idle at once, not after the timeout. (Headless Chromium
    // keeps its pages visible, so the page is told so.)
    const hide = (state) => pageB.evaluate((value) => {
      Object.defineProperty(document, 'visibilityState', { value, configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }, state);
    await pageB.mouse.move(10, 10);
    const hidden = Date.now();
    await hide('hidden');
    await until(() => statusFrames().length === 3, { timeout: 2000, interval: 20, what: 'idle when hidden' });
    assert.ok(Date.now() - hidden < IDLE_AFTER_MS, 'idle as soon as the tab is hidden');
    await until(async () => (await cardStatus(pageA, bob.id)) === 'idle', { what: 'hidden Bob idle for Ada' });
    await hide('visible');
    await until(async () => (await cardStatus(pageA, bob.id)) === 'online', { what: 'Bob back when shown' });
    assert.deepEqual(statusFrames(), ['idle', 'online', 'idle', 'online']);
  });

  it('the compact list fits a phone, and is remembered', async () => {
    await pageA.setViewportSize(PHONE);
    const height = () => pageA.evaluate(() => document.querySelector('[data-testid="online-list"]').offsetHeight);
    const overflow = () => pageA.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    const gridHeight = await height();
    const toggle = pageA.getByRole('button', { name: 'Compact list' });
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.click();
    await until(async () => (await pageA.getByTestId('online-list').getAttribute('data-layout')) === 'compact',
      { what: 'the compact list' });
    const compactHeight = await height();
    assert.ok(compactHeight < gridHeight * 0.7, `the list is ${compactHeight} px high compact, ${gridHeight} px as a grid`);
    assert.ok((await overflow()) <= 0, 'no sideways scrolling');
    // Every row is readable and big enough to tap.
    const rows = await pageA.$$eval('[data-testid="online-list"] a', (as) => as.map((a) => a.getBoundingClientRect().height));
    assert.ok(rows.every((h) => h >= 24), `rows of ${rows}`);

    await pageA.reload();
    await waitForOnline(pageA, [ada.id, bob.id, ...crowd.map((c) => c.user.id)]);
    assert.equal(await pageA.getByTestId('online-list').getAttribute('data-layout'), 'compact');
    assert.equal(await pageA.getByRole('button', { name: 'Compact list' }).getAttribute('aria-pressed'), 'true');
    for (const scheme of ['light', 'dark']) {
      await pageA.emulateMedia({ colorScheme: scheme });
      await screenshot(pageA, `crowd-online-${scheme}-phone`);
    }
    await pageA.emulateMedia({ colorScheme: 'light' });
    await pageA.getByRole('button', { name: 'Compact list' }).click();
    await pageA.setViewportSize(DESKTOP);
  });

  it('a profile says when its user was last seen', async () => {
    const gone = crowd.shift();
    gone.socket.destroy();
    await until(async () => !(await onlineIds(pageA)).includes(gone.user.id), {
      timeout: GRACE_MS + 5000, what: 'the user to leave',
    });
    // A fresh page: the time comes from GET /api/users/:id, not from this tab.
    await pageA.goto(`${daemon.url}/users/${gone.user.id}`);
    const presence = pageA.getByTestId('presence');
    await until(async () => /^Last seen/.test(await presence.textContent()), { what: 'Last seen on the profile' });
    assert.equal(await presence.textContent(), 'Last seen just now');
    assert.equal(await presence.getAttribute('data-presence'), 'offline');
    const api = await pageA.evaluate(async (id) => (await (await fetch(`/api/users/${id}`)).json()).user, gone.user.id);
    assert.equal(api.online, false);
    assert.match(api.lastSeen, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

    // Someone online: "Online now" (the list has no time they came), and
    // Bob, whose tab is idle by now, "Online, but idle".
    await pageA.goto(`${daemon.url}/users/${crowd[0].user.id}`);
    await until(async () => (await presence.textContent()) === 'Online now', { what: 'online on a profile' });
    await pageA.goto(`${daemon.url}/users/${bob.id}`);
    await until(async () => (await presence.textContent()) === 'Online, but idle', { what: 'Bob idle on his profile' });
    for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await pageA.setViewportSize(viewport);
      for (const scheme of ['light', 'dark']) {
        await pageA.emulateMedia({ colorScheme: scheme });
        await screenshot(pageA, `crowd-profile-${scheme}-${size}`);
      }
    }
    await pageA.emulateMedia({ colorScheme: 'light' });
    await pageA.setViewportSize(DESKTOP);
    await pageA.getByRole('link', { name: 'Online now' }).first().click();
    await waitForOnline(pageA, [ada.id, bob.id, ...crowd.map((c) => c.user.id)]);
  });

  it('a picture is uploaded as soon as it is chosen, and can be removed', async () => {
    await pageA.goto(`${daemon.url}/profile`);
    await pageA.getByLabel('New picture', { exact: true })
      .setInputFiles({ name: 'ada.png', mimeType: 'image/png', buffer: makePng() });
    const status = pageA.getByTestId('avatar-status');
    await until(async () => (await status.textContent()) === 'Picture updated.', { what: 'the upload' });
    const form = pageA.locator('section[aria-labelledby="avatar-heading"]');
    assert.match(await form.locator('img').getAttribute('src'), /^\/avatars\//);
    await form.getByRole('button', { name: 'Remove picture' }).click();
    await until(async () => (await status.textContent()) === 'Picture removed.', { what: 'the removal' });
    assert.equal(await form.locator('.avatar--initials').textContent(), 'AL');
    assert.equal(await form.getByRole('button', { name: 'Remove picture' }).count(), 0);
    assert.notEqual(await pageA.evaluate(() => document.activeElement?.tagName), 'BODY', 'the focus stays in the form');
    const me = await pageA.evaluate(async () => (await (await fetch('/api/me')).json()).user);
    assert.equal(me.imageUrl, null);
    await pageA.getByRole('link', { name: 'Online now' }).first().click();
    await waitForOnline(pageA, [ada.id, bob.id, ...crowd.map((c) => c.user.id)]);
  });

  it('ten leaves move nothing out of place, and are announced', async () => {
    await pageA.evaluate(() => {
      window.__munityShift = 0;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__munityShift += entry.value;
      }).observe({ type: 'layout-shift' });
    });
    const leaving = crowd.splice(0, 10);
    for (const { socket } of leaving) {
      socket.destroy();
      await sleep(300);
    }
    await waitForOnline(pageA, [ada.id, bob.id, ...crowd.map((c) => c.user.id)], { timeout: GRACE_MS + 8000 });
    await sleep(500);   // the last animation ends
    const shift = await pageA.evaluate(() => window.__munityShift);
    assert.ok(shift < 0.1, `layout shift ${shift.toFixed(3)} for ten leaves`);
    const announced = await pageA.getByTestId('online-announcer').textContent();
    const last = leaving.at(-1).user;
    assert.match(announced, new RegExp(`${last.first} ${last.last} left`));
    assert.equal(await pageA.locator('[aria-live]').count(), 1, 'one live region, and not the grid');
  });

  it('with reduced motion, a join just appears', async () => {
    await pageA.emulateMedia({ reducedMotion: 'reduce' });
    const user = await registerByApi(daemon.url, 'Ada', 'Yonath');
    crowd.push({ user, socket: await openSocket(daemon.port, user) });
    await waitForOnline(pageA, [ada.id, bob.id, ...crowd.map((c) => c.user.id)]);
    assert.equal(await pageA.evaluate(() => document.getAnimations().length), 0);
    assert.match(await pageA.getByTestId('online-announcer').textContent(), /Ada Yonath joined/);
    await pageA.emulateMedia({ reducedMotion: 'no-preference' });
  });

  it('while reconnecting the count says how old it is', async () => {
    await daemon.stop();
    await until(async () => /^Last updated/.test(await summary(pageA)), { timeout: 5000, what: '"last updated"' });
    assert.doesNotMatch(await summary(pageA), /right now/);
    assert.equal(await pageA.getByTestId('online-list').getAttribute('aria-busy'), 'true');
    const first = await summary(pageA);
    await until(async () => (await summary(pageA)) !== first, { timeout: 3000, what: 'the age to grow' });
    assert.match(await summary(pageA), /^Last updated \d+ seconds? ago\.$/);
    await screenshot(pageA, 'crowd-reconnecting');
    for (const { socket } of crowd) socket.destroy();
    crowd.length = 0;
    await daemon.start();
    await until(async () => (await pageA.getByTestId('connection-status').getAttribute('data-status')) === 'open', {
      timeout: 20000, what: 'the socket to come back (at most 10 s between tries)',
    });
    await waitForOnline(pageA, [ada.id, bob.id], { timeout: 15000 });
    assert.match(await summary(pageA), /people are here right now/);
  });

  it('after an administrator\'s disconnect it says so, dims the list and waits for the viewer', async () => {
    let sockets = 0;
    pageA.on('websocket', () => {
      sockets += 1;
    });
    const { stdout } = await promisify(execFile)('gdbus', ['call', '--address', bus.address,
      '--dest', 'org.munity.Presence1', '--object-path', '/org/munity/Presence1',
      '--method', 'org.munity.Presence1.Disconnect', String(ada.id)]);
    assert.match(stdout, /\(uint32 [1-9]\d*,\)/);
    const banner = pageA.getByTestId('connection-status');
    await until(async () => (await banner.getAttribute('data-status')) === 'disconnected', { what: 'the disconnected state' });
    assert.match(await banner.textContent(), /An administrator disconnected you/);
    assert.match(await pageA.getByTestId('online-list').getAttribute('class'), /online__grid--stale/);
    assert.match(await summary(pageA), /^Last updated/);
    await screenshot(pageA, 'crowd-disconnected');
    // No reconnect by itself, not even on focus or when the network is back.
    await pageA.evaluate(() => {
      window.dispatchEvent(new Event('focus'));
      window.dispatchEvent(new Event('online'));
    });
    await sleep(3000);
    assert.equal(sockets, 0, 'no new socket');
    await banner.getByRole('button', { name: 'Reconnect' }).click();
    await until(async () => (await banner.getAttribute('data-status')) === 'open', { what: 'live again' });
    assert.equal(sockets, 1);
    await waitForOnline(pageA, [ada.id, bob.id]);
    assert.deepEqual(problems.flat(), [], 'no dialog, page error or CSP violation');
  });
});
