// The web client in a real Chromium against a real munityd (doc/protocol.md §6):
// register, Online now live across browsers, tabs, reloads, closing, a
// restart of munityd, names with HTML in them, pictures, profiles, log out.
//
// Run with `meson test -C _build --suite browser` (or ./test.sh); see lib.mjs
// for the environment. The scenarios run in order and share two users.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  checkPrerequisites, Daemon, disappearances, GRACE_MS, launchBrowser, makePng, onlineEntries, onlineIds,
  registerThroughUi, screenshot, sleep, uniqueEmail, until, waitForOnline, watchForDisappearance,
  watchPage,
} from './lib.mjs';

const VIEWPORT = { width: 1024, height: 700 };
const HTML_NAME = '<img src=x onerror=alert(1)>';

describe('Munity in Chromium', { timeout: 15 * 60 * 1000 }, () => {
  let daemon;
  let browser;
  let contextA;
  let contextB;
  let pageA;
  let pageB;
  let ada;
  let bob;
  const problems = [];

  const watch = (page, label) => {
    problems.push(watchPage(page, label));
    return page;
  };
  const allProblems = () => problems.flat();

  // Marks a page so that a later check can tell it was not reloaded.
  const mark = (page) => page.evaluate(() => {
    window.__munityNotReloaded = true;
  });
  const wasNotReloaded = async (page) => page.evaluate(() => window.__munityNotReloaded === true);

  before(async () => {
    checkPrerequisites();
    daemon = new Daemon();
    await daemon.start();
    browser = await launchBrowser();
    contextA = await browser.newContext({ viewport: VIEWPORT });
    contextB = await browser.newContext({ viewport: VIEWPORT });
  });

  after(async () => {
    await browser?.close();
    await daemon?.dispose();
  });

  it('serves the client with a strict CSP, and the log-in and register screens', async () => {
    const response = await fetch(`${daemon.url}/online`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^text\/html/);
    assert.equal(response.headers.get('cache-control'), 'no-cache');
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    const csp = response.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /style-src 'self'/);
    const html = await response.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    const script = html.match(/src="(\/assets\/[^"]+\.js)"/)[1];
    const asset = await fetch(`${daemon.url}${script}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type'), /^text\/javascript/);
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');

    pageA = watch(await contextA.newPage(), 'A');
    await pageA.goto(`${daemon.url}/`);
    await pageA.waitForURL(`${daemon.url}/login`);
    await pageA.getByRole('heading', { name: 'Log in' }).waitFor();
    await screenshot(pageA, 'login');
    // The keyboard: the first Tab reaches "Skip to content", which leads to
    // the form; every input has a label.
    await pageA.goto(`${daemon.url}/login`);
    await pageA.getByRole('heading', { name: 'Log in' }).waitFor();
    await pageA.keyboard.press('Tab');
    assert.equal(await pageA.evaluate(() => document.activeElement.textContent), 'Skip to content');
    await pageA.keyboard.press('Enter');
    await pageA.keyboard.press('Tab');
    assert.equal(await pageA.evaluate(() => document.activeElement.id), 'email');
    const unlabelled = await pageA.$$eval('input, textarea', (inputs) => inputs.filter((i) => i.labels.length === 0).length);
    assert.equal(unlabelled, 0);
    await pageA.getByRole('link', { name: 'Create an account' }).click();
    await pageA.getByRole('heading', { name: 'Create an account' }).waitFor();
    await screenshot(pageA, 'register');
  });

  it('two users register through the UI and see each other on Online now', async () => {
    pageB = watch(await contextB.newPage(), 'B');
    ada = await registerThroughUi(pageA, daemon.url, { first: 'Ada', last: 'Lovelace', email: uniqueEmail('ada') });
    await waitForOnline(pageA, [ada.id]);
    bob = await registerThroughUi(pageB, daemon.url, { first: 'Bob', last: 'Kahn', email: uniqueEmail('bob') });

    // Promptly on Ada's screen (the issue asks for a second; the margin is
    // for a loaded CI machine, where this clock also counts Bob's own start).
    await waitForOnline(pageA, [ada.id, bob.id], { timeout: 2000 });
    await waitForOnline(pageB, [ada.id, bob.id]);

    for (const [page, me] of [[pageA, ada], [pageB, bob]]) {
      const entries = await onlineEntries(page);
      assert.equal(entries[0].id, me.id, 'the viewer comes first');
      assert.deepEqual(entries.filter((e) => e.you).map((e) => e.id), [me.id], 'the viewer, and only the viewer, is marked');
      assert.match(entries[0].name, new RegExp(`^${me.first} ${me.last}$`));
      for (const entry of entries) {
        assert.equal(entry.imageSrc, null, 'no picture yet');
      }
      assert.equal(await page.locator('[data-testid="online-list"] .avatar--initials').count(), 2,
        'initials for users without a picture');
      assert.equal(await page.getByTestId('online-count').textContent(), '2');
      const heading = await page.getByRole('heading', { level: 1 }).textContent();
      assert.match(heading, /Online now\s*2/);
      assert.equal(await page.getByTestId('online-announcer').getAttribute('aria-live'), 'polite');
      const links = await page.$$eval('[data-testid="online-list"] a', (as) => as.map((a) => a.getAttribute('href')));
      assert.deepEqual(links.sort(), [`/users/${ada.id}`, `/users/${bob.id}`].sort());
      const named = await page.getByTestId('online-list').getByRole('link', { name: /^.+, (online|idle)$/ }).count();
      assert.equal(named, links.length, 'every card is named "Name, online" or "Name, idle"');
    }
    await screenshot(pageB, 'online-now');

    // A phone-sized window: the grid reflows, nothing sticks out sideways.
    await pageB.setViewportSize({ width: 390, height: 760 });
    const overflow = await pageB.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (${overflow} px too wide)`);
    await screenshot(pageB, 'online-now-narrow');
    await pageB.setViewportSize(VIEWPORT);
  });

  it('a second tab of the same user adds no duplicate', async () => {
    const second = watch(await contextA.newPage(), 'A2');
    await second.goto(`${daemon.url}/online`);
    await waitForOnline(second, [ada.id, bob.id]);
    await sleep(500);
    for (const page of [pageA, pageB, second]) {
      const entries = await onlineEntries(page);
      assert.equal(entries.length, 2, `each user once: ${JSON.stringify(entries)}`);
      assert.equal(await page.getByTestId('online-count').textContent(), '2');
    }

    // Closing one of two tabs is not leaving.
    await watchForDisappearance(pageB, ada.id);
    await second.close();
    await sleep(GRACE_MS + 1000);
    assert.deepEqual(await disappearances(pageB), []);
    assert.deepEqual(await onlineIds(pageB), [ada.id, bob.id].sort((a, b) => a - b));
  });

  it('a reload within the grace never makes that user disappear for the other', async () => {
    await mark(pageB);
    await watchForDisappearance(pageB, ada.id);
    for (let i = 0; i < 2; i++) {
      await pageA.reload();
      await waitForOnline(pageA, [ada.id, bob.id]);
    }
    await sleep(GRACE_MS + 1000);
    assert.deepEqual(await disappearances(pageB), [], 'Ada never left Bob\'s list');
    assert.deepEqual(await onlineIds(pageB), [ada.id, bob.id].sort((a, b) => a - b));
    assert.ok(await wasNotReloaded(pageB));
  });

  it('closing the last tab removes the user after the grace', async () => {
    const closed = Date.now();
    await pageA.close();
    await sleep(GRACE_MS / 2);
    assert.ok((await onlineIds(pageB)).includes(ada.id), 'still there during the grace');
    await until(async () => !(await onlineIds(pageB)).includes(ada.id), {
      timeout: GRACE_MS + 5000, interval: 50, what: 'Ada to leave Bob\'s list',
    });
    const elapsed = Date.now() - closed;
    assert.ok(elapsed >= GRACE_MS * 0.8, `left after ${elapsed} ms, not before the grace of ${GRACE_MS} ms`);
    assert.equal(await pageB.getByTestId('online-count').textContent(), '1');

    // Back again: a new tab with the same session.
    pageA = watch(await contextA.newPage(), 'A');
    await pageA.goto(`${daemon.url}/online`);
    await waitForOnline(pageA, [ada.id, bob.id]);
    await waitForOnline(pageB, [ada.id, bob.id], { timeout: 2000 });
  });

  it('profiles: a user\'s page with picture, name, bio and online state; editing one\'s own', async () => {
    // Ada writes her bio and changes her name.
    await pageA.getByRole('link', { name: 'My profile' }).click();
    await pageA.waitForURL(`${daemon.url}/profile`);
    await pageA.getByLabel('Bio', { exact: true }).fill('Wrote the first program.\nLikes engines.');
    await pageA.getByLabel('First name', { exact: true }).fill('Augusta Ada');
    await pageA.getByRole('button', { name: 'Save' }).click();
    await pageA.getByText('Saved.').waitFor();
    await screenshot(pageA, 'my-profile');

    // Bob sees the new name without a reload (userUpdated).
    await mark(pageB);
    await until(async () => (await onlineEntries(pageB)).some((e) => e.name === 'Augusta Ada Lovelace'), {
      what: 'the new name on Bob\'s Online now',
    });

    // Bob opens Ada's profile from the grid, with the keyboard.
    await pageB.locator(`[data-testid="online-list"] li[data-user-id="${ada.id}"] a`).focus();
    await pageB.keyboard.press('Enter');
    await pageB.waitForURL(`${daemon.url}/users/${ada.id}`);
    await pageB.getByRole('heading', { name: 'Augusta Ada Lovelace' }).waitFor();
    assert.match(await pageB.getByTestId('presence').textContent(), /Online now/);
    await pageB.getByText('Wrote the first program.').waitFor();
    assert.equal(await pageB.locator('.profile .avatar--initials').textContent(), 'AL');
    assert.ok(await wasNotReloaded(pageB));
    await screenshot(pageB, 'user-profile');

    // A user who does not exist.
    await pageB.goto(`${daemon.url}/users/999999`);
    await pageB.getByRole('heading', { name: 'No such user' }).waitFor();
    await pageB.goto(`${daemon.url}/online`);
    await waitForOnline(pageB, [ada.id, bob.id]);
  });

  it('a name containing HTML is shown as text and runs nothing', async () => {
    const contextC = await browser.newContext({ viewport: VIEWPORT });
    const pageC = watch(await contextC.newPage(), 'C');
    const carol = await registerThroughUi(pageC, daemon.url, {
      first: HTML_NAME, last: '<b>Bold</b>', email: uniqueEmail('carol'),
    });
    await waitForOnline(pageB, [ada.id, bob.id, carol.id]);
    await waitForOnline(pageC, [ada.id, bob.id, carol.id]);

    for (const page of [pageB, pageC]) {
      const entry = (await onlineEntries(page)).find((e) => e.id === carol.id);
      assert.equal(entry.name, `${HTML_NAME} <b>Bold</b>`);
      assert.equal(await page.locator('img[src="x"]').count(), 0, 'no <img src=x> in the page');
      assert.equal(await page.locator('[data-testid="online-list"] b').count(), 0, 'no <b> in the list');
    }
    await screenshot(pageB, 'html-name');

    await pageB.goto(`${daemon.url}/users/${carol.id}`);
    await pageB.getByRole('heading', { name: `${HTML_NAME} <b>Bold</b>` }).waitFor();
    assert.equal(await pageB.locator('img[src="x"]').count(), 0);
    await sleep(300);
    assert.deepEqual(allProblems(), [], 'no dialog, page error or CSP violation');

    await contextC.close();
    await pageB.goto(`${daemon.url}/online`);
    await waitForOnline(pageB, [ada.id, bob.id], { timeout: GRACE_MS + 5000 });
  });

  it('a new picture shows up for the other user without a reload', async () => {
    await mark(pageB);
    await pageA.goto(`${daemon.url}/profile`);
    // Choosing the file uploads it: there is no separate button.
    await pageA.getByLabel('New picture', { exact: true }).setInputFiles({ name: 'ada.png', mimeType: 'image/png', buffer: makePng() });
    const outcome = await until(async () => {
      if (await pageA.getByText('Picture updated.').isVisible()) return 'ok';
      const alert = pageA.locator('section[aria-labelledby="avatar-heading"] [role="alert"]');
      if (await alert.count()) return `the upload failed: ${await alert.textContent()}`;
      return null;
    }, { what: 'the answer to POST /api/me/avatar' });
    assert.equal(outcome, 'ok');

    const entry = await until(async () => {
      const found = (await onlineEntries(pageB)).find((e) => e.id === ada.id);
      return found?.imageSrc?.startsWith('/avatars/') ? found : null;
    }, { what: 'Ada\'s picture on Bob\'s Online now' });
    assert.ok(await wasNotReloaded(pageB), 'Bob did not reload');
    await until(() => pageB.$eval(`li[data-user-id="${ada.id}"] img`, (img) => img.complete && img.naturalWidth > 0), {
      what: 'the picture to load',
    });
    const picture = await fetch(`${daemon.url}${entry.imageSrc}`);
    assert.equal(picture.status, 200);
    assert.match(picture.headers.get('content-type'), /^image\/(png|jpeg|webp|gif)$/);
    assert.equal(picture.headers.get('x-content-type-options'), 'nosniff');

    // Ada's own header and grid follow too.
    await pageA.getByRole('link', { name: 'Online now' }).click();
    await until(async () => (await onlineEntries(pageA)).find((e) => e.id === ada.id)?.imageSrc === entry.imageSrc, {
      what: 'Ada\'s picture on her own Online now',
    });
    await screenshot(pageB, 'online-now-with-picture');
  });

  it('munityd restarted: "reconnecting…" shows, then the list comes back by itself', async () => {
    for (const page of [pageA, pageB]) {
      if (!page.url().endsWith('/online')) await page.getByRole('link', { name: 'Online now' }).click();
      await waitForOnline(page, [ada.id, bob.id]);
    }
    await mark(pageA);
    await mark(pageB);
    await daemon.stop();

    for (const page of [pageA, pageB]) {
      const banner = page.getByTestId('connection-status');
      await until(async () => (await banner.getAttribute('data-status')) === 'reconnecting', {
        timeout: 5000, what: 'the reconnecting state',
      });
      assert.match(await banner.textContent(), /Reconnecting…/);
      assert.ok(await banner.isVisible());
    }
    await screenshot(pageB, 'reconnecting');

    await daemon.start();
    for (const page of [pageA, pageB]) {
      await until(async () => (await page.getByTestId('connection-status').getAttribute('data-status')) === 'open', {
        timeout: 45000, interval: 250, what: 'the socket to come back',
      });
      await waitForOnline(page, [ada.id, bob.id], { timeout: 5000 });
      assert.equal(await page.getByText('Reconnecting…').count(), 0);
      assert.ok(await wasNotReloaded(page), 'it came back without a reload');
    }
  });

  it('log out: back to the log-in screen, and the other user sees it at once', async () => {
    const start = Date.now();
    await pageB.getByRole('button', { name: 'Log out' }).click();
    await pageB.waitForURL(`${daemon.url}/login`);
    await until(async () => !(await onlineIds(pageA)).includes(bob.id), {
      timeout: GRACE_MS + 5000, interval: 50, what: 'Bob to leave Ada\'s list',
    });
    const elapsed = Date.now() - start;
    assert.ok(elapsed < GRACE_MS, `a logout leaves without the grace (took ${elapsed} ms)`);
    // The session is gone: /online sends back to /login.
    await pageB.goto(`${daemon.url}/online`);
    await pageB.waitForURL(`${daemon.url}/login`);
    assert.deepEqual(allProblems(), [], 'no dialog, page error or CSP violation');
  });
});
