// Online now as a window of the list (issue 15, doc/protocol.md §8), in a
// real Chromium against a real munityd: the page in its test mode
// (localStorage munity.view = window) with a crowd of 120 online, each a
// plain WebSocket of this process. The first rows come in the server's
// A–Z order and the count says the total; scrolling to the end moves the
// window (setWindow) and shows the last users; the search is the server's;
// a join and a leave in view appear and go; axe-core finds nothing serious;
// screenshots light and dark, desktop and phone.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  checkPrerequisites, Daemon, GRACE_MS, launchBrowser, onlineEntries, openSocket, recordSockets, registerByApi,
  registerThroughUi, screenshot, SOURCE_ROOT, uniqueEmail, until, watchPage,
} from './lib.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const FIRSTS = ['Amara', 'Bruno', 'Chiara', 'Dmitri', 'Elif', 'Farid', 'Greta', 'Hiroshi', 'Ingrid', 'Jonas', 'Kofi',
  'Lucia'];
const LASTS = ['Berg', 'Costa', 'Dahl', 'Eze', 'Fischer', 'Garcia', 'Haddad', 'Ito', 'Jensen', 'Kowalski'];
const CROWD = FIRSTS.flatMap((first) => LASTS.map((last) => [first, last]));   // 120
const AXE = createRequire(join(SOURCE_ROOT, 'src', 'web', 'package.json')).resolve('axe-core/axe.min.js');

// The server's order under C.UTF-8 (the browser suite's locale): code
// points, then the id; these names are ASCII and unique.
const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id);
const names = async (page) => (await onlineEntries(page)).map((entry) => entry.name);

// Every serious or critical finding counts.
const KNOWN = new Set();

/** The serious and critical axe violations of the page, one line each. */
async function axeViolations(page) {
  // Evaluated by the DevTools protocol, which the page's CSP does not stop.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(readFileSync(AXE, 'utf8'));
  return page.evaluate(async (known) => {
    const { violations } = await window.axe.run(document, { resultTypes: ['violations'] });
    return violations
      .filter((v) => (v.impact === 'serious' || v.impact === 'critical') && !known.includes(v.id))
      .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(', ')}`);
  }, [...KNOWN]);
}

// Runs `job` on each item, `width` at a time.
async function pool(items, width, job) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await job(items[index]);
    }
  }));
  return results;
}

describe('Online now as a window', { timeout: 2 * 60 * 1000 }, () => {
  let daemon;
  let browser;
  let page;
  let ada;
  let everyone;            // [{id, name}] in the server's order
  const crowd = [];        // {user, socket}
  const problems = [];
  let sent = [];           // frames the page sent
  let urls = [];           // the page's sockets

  const setWindows = () => sent.filter((frame) => frame.event === 'setWindow').map((frame) => frame.data);
  const scrollTo = (where) => page.evaluate((y) => window.scrollTo(0, y === 'end' ? document.documentElement.scrollHeight : y), where);

  before(async () => {
    checkPrerequisites();
    // 120 registrations from one address; munityd allows 60 an hour.
    process.env.MUNITY_REGISTER_PER_ADDRESS = '1000';
    daemon = new Daemon();
    await daemon.start();
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: DESKTOP });
    await context.addInitScript(() => localStorage.setItem('munity.view', 'window'));
    page = await context.newPage();
    problems.push(watchPage(page, 'page'));
    ({ urls, sent } = recordSockets(page));
  });

  after(async () => {
    for (const { socket } of crowd) socket.destroy();
    await browser?.close();
    await daemon?.dispose();
  });

  it('shows the first rows A–Z and the total', async () => {
    const users = await pool(CROWD, 6, ([first, last]) => registerByApi(daemon.url, first, last));
    for (const user of users) crowd.push({ user, socket: await openSocket(daemon.port, user, '/ws?view=window') });
    ada = await registerThroughUi(page, daemon.url, { first: 'Ada', last: 'Lovelace', email: uniqueEmail('ada') });
    everyone = [{ id: ada.id, name: 'Ada Lovelace' }, ...users.map((u) => ({ id: u.id, name: `${u.first} ${u.last}` }))]
      .sort(byName);
    assert.equal(everyone.length, 121);

    const list = page.getByTestId('online-list');
    await until(async () => (await list.getAttribute('data-mode')) === 'window', { what: 'the window list' });
    await until(async () => (await page.getByTestId('online-count').textContent()) === '121', { what: 'the total' });
    assert.equal(await page.getByTestId('online-summary').textContent(), '121 people are here right now.');
    assert.ok(urls.every((url) => url.endsWith('/ws?view=window')), `one window socket: ${urls}`);
    assert.equal(urls.length, 1);

    await until(async () => (await names(page)).length >= 10, { what: 'the first rows' });
    const shown = await names(page);
    assert.deepEqual(shown, everyone.slice(0, shown.length).map((u) => u.name), 'A–Z, as the server orders');
    // The list is as tall as all of them, and says how many there are.
    assert.ok(Number(await list.evaluate((ul) => ul.offsetHeight)) >= 121 * 50);
    assert.equal(await page.locator('[data-testid="online-list"] li[data-user-id]').first().getAttribute('aria-setsize'), '121');
    // A row is a link named once, with the status.
    assert.equal(everyone[0].name, 'Ada Lovelace');
    assert.equal(await page.getByRole('link', { name: 'Ada Lovelace (you), online', exact: true }).count(), 1);
    assert.equal(await page.getByRole('link', { name: `${everyone[1].name}, online`, exact: true }).count(), 1);
    // The other order is off, and says why.
    assert.equal(await page.locator('#online-sort option[value="joined"]').isDisabled(), true);
    assert.match(await page.getByTestId('online-order-note').textContent(), /A–Z order/);
    assert.equal(await page.getByRole('button', { name: 'Compact list' }).count(), 0);
  });

  it('scrolling to the end moves the window and shows the last users', async () => {
    const before_ = setWindows().length;
    await scrollTo('end');
    const tail = everyone.slice(-5).map((u) => u.name);
    await until(async () => {
      const shown = await names(page);
      return shown.length > 0 && shown.slice(-5).join('|') === tail.join('|');
    }, { what: 'the last users' });
    const moves = setWindows().slice(before_);
    assert.ok(moves.length >= 1, 'the page sent setWindow');
    assert.ok(moves.at(-1).offset > 0 && moves.at(-1).offset + moves.at(-1).limit >= 121, JSON.stringify(moves));
    assert.ok(moves.every((m) => m.limit <= 200 && m.query === ''));
    // Every row on the screen is a person, no placeholder left.
    assert.equal(await page.locator('.person--placeholder').count(), 0);
    await scrollTo(0);
    await until(async () => (await names(page))[0] === everyone[0].name, { what: 'the top again' });
  });

  it('the search is the server\'s', async () => {
    const search = page.getByLabel('Search by name');
    await search.fill('oFI kOwal');
    await until(async () => (await names(page)).join('|') === 'Kofi Kowalski', { what: 'one match' });
    assert.equal(await page.getByTestId('online-matches').textContent(), '1 person matches “oFI kOwal”.');
    assert.ok(setWindows().some((w) => w.query === 'oFI kOwal' && w.offset === 0), 'setWindow with the query');
    await search.fill('jensen');
    await until(async () => (await names(page)).length === 12, { what: 'twelve Jensens' });
    assert.equal(await page.getByTestId('online-matches').textContent(), '12 people match “jensen”.');
    assert.deepEqual(await names(page), FIRSTS.map((first) => `${first} Jensen`));
    // The count stays the whole list's.
    assert.equal(await page.getByTestId('online-count').textContent(), '121');
    await search.fill('');
    await until(async () => (await names(page))[0] === everyone[0].name, { what: 'everyone again' });
    assert.equal(await page.getByTestId('online-matches').textContent(), '');
  });

  it('a join and a leave in view appear and go, and are not announced', async () => {
    const user = await registerByApi(daemon.url, 'Aaron', 'Aalto');
    const socket = await openSocket(daemon.port, user, '/ws?view=window');
    await until(async () => (await names(page))[0] === 'Aaron Aalto', { what: 'the join at the top' });
    await until(async () => (await page.getByTestId('online-count').textContent()) === '122', { what: 'the new total' });
    assert.deepEqual((await names(page)).slice(1, 6), everyone.slice(0, 5).map((u) => u.name));
    socket.destroy();
    await until(async () => (await names(page))[0] === everyone[0].name, {
      timeout: GRACE_MS + 5000, what: 'the leave, after the grace',
    });
    await until(async () => (await page.getByTestId('online-count').textContent()) === '121', { what: 'the total back' });
    assert.equal(await page.getByTestId('online-announcer').textContent(), '', 'strangers scrolling by are not news');
  });

  it('has no serious axe violation, light and dark, desktop and phone', async () => {
    for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await page.setViewportSize(viewport);
      for (const scheme of ['light', 'dark']) {
        await page.emulateMedia({ colorScheme: scheme });
        await until(async () => (await names(page)).length >= 5, { what: 'rows' });
        assert.deepEqual(await axeViolations(page), [], `${scheme} ${size}`);
        await screenshot(page, `window-online-${scheme}-${size}`);
      }
    }
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, 'no sideways scrolling on a phone');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize(DESKTOP);
    assert.deepEqual(problems.flat(), [], 'no dialog, page error or CSP violation');
  });
});
