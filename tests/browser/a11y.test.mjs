// Accessibility, forms and translations of the web client in a real
// Chromium against a real munityd (issue 14): axe-core on every screen in
// light and dark, desktop and phone, each with its own title; the focus
// after every action; forms that show every problem at once; the rate
// limit's "try again in"; the client in German.
//
// Run with `meson test -C _build browser`; see lib.mjs for the environment.
// The failed logins of the rate-limit test fill the address's budget
// (doc/api.md, Throttling), so it runs last.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  checkPrerequisites, Daemon, launchBrowser, registerThroughUi, screenshot, SOURCE_ROOT,
  uniqueEmail, until, watchPage,
} from './lib.mjs';

// axe-core is a devDependency of the web client, beside playwright-core.
const AXE = createRequire(join(SOURCE_ROOT, 'src', 'web', 'package.json')).resolve('axe-core/axe.min.js');
const DEVICES = { desktop: { width: 1024, height: 700 }, phone: { width: 390, height: 844 } };
const SCHEMES = ['light', 'dark'];

/** The serious and critical axe violations of the page, one line each. */
async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    const { violations } = await window.axe.run(document, { resultTypes: ['violations'] });
    return violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(', ')}`);
  });
}

/** What has the focus: "body", or tag#id.class "text". */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'body';
    return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''} "${(el.textContent ?? '').trim().slice(0, 40)}"`;
  });
}

// Counts the moments the focus sits on <body> from now on: every frame and
// every change of the page, so that even a drop the script repairs a
// moment later is seen.
function watchBodyFocus(page) {
  return page.evaluate(() => {
    window.__munityBodyFocus = [];
    const check = (why) => {
      if (document.activeElement === document.body || document.activeElement === null) window.__munityBodyFocus.push(why);
    };
    new MutationObserver(() => check('mutation')).observe(document.body, { childList: true, subtree: true, attributes: true });
    document.addEventListener('focusout', () => setTimeout(() => check('focusout'), 0));
    const frame = () => {
      check('frame');
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
}

const bodyFocusCount = (page) => page.evaluate(() => window.__munityBodyFocus.length);

async function waitForTitle(page, title) {
  await until(async () => (await page.title()) === title, { timeout: 5000, what: `the title "${title}"` })
    .catch(async (error) => {
      throw new Error(`${error.message}; it is "${await page.title()}"`);
    });
}

describe('Munity is accessible, helpful and translated', { timeout: 10 * 60 * 1000 }, () => {
  const contexts = [];
  const problems = [];
  let daemon;
  let browser;
  // Ada's session, for the contexts that start logged in; Bob stays online.
  let adaState;
  let ada;
  let bob;

  async function newPage(options = {}, label = 'page') {
    const context = await browser.newContext({ viewport: DEVICES.desktop, bypassCSP: true, ...options });
    contexts.push(context);
    const page = await context.newPage();
    problems.push(watchPage(page, label));
    return page;
  }

  before(async () => {
    checkPrerequisites();
    daemon = new Daemon();
    await daemon.start();
    browser = await launchBrowser();
    const adaPage = await newPage({}, 'ada');
    ada = await registerThroughUi(adaPage, daemon.url, { first: 'Ada', last: 'Lovelace', email: uniqueEmail('ada') });
    adaState = await adaPage.context().storageState();
    await adaPage.context().close();
    // Bob stays online, so that Online now has someone besides the viewer.
    const bobPage = await newPage({}, 'bob');
    bob = await registerThroughUi(bobPage, daemon.url, { first: 'Bob', last: 'Marley', email: uniqueEmail('bob') });
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await daemon?.dispose();
  });

  // The problems of every screen in one scheme on one device: axe's serious
  // and critical violations, a wrong title, a page wider than the screen.
  async function screenProblems(scheme, device) {
    const viewport = DEVICES[device];
    const anon = await newPage({ viewport, colorScheme: scheme }, `anon ${scheme} ${device}`);
    const me = await newPage({ viewport, colorScheme: scheme, storageState: adaState }, `ada ${scheme} ${device}`);
    const screens = [
      { name: 'login', page: anon, path: '/login', heading: 'Log in', title: 'Log in — Munity' },
      {
        // With every field in error: the register screen at its fullest.
        name: 'register', page: anon, path: '/register', heading: 'Create an account',
        title: 'Create an account — Munity',
        act: async (page) => {
          await page.getByRole('button', { name: 'Create account' }).click();
          await page.locator('#password-error').waitFor();
        },
      },
      { name: 'online', page: me, path: '/online', heading: /^Online now/, title: 'Online now — Munity',
        act: async (page) => page.locator(`[data-testid="online-list"] li[data-user-id="${bob.id}"]`).waitFor() },
      { name: 'profile', page: me, path: `/users/${bob.id}`, heading: 'Bob Marley', title: 'Bob Marley — Munity' },
      { name: 'my-profile', page: me, path: '/profile', heading: 'Your profile', title: 'Your profile — Munity' },
      { name: 'not-found', page: me, path: '/no/such/page', heading: 'Page not found', title: 'Page not found — Munity' },
    ];
    const found = [];
    const visit = async (screen) => {
      const { page } = screen;
      await page.goto(`${daemon.url}${screen.path}`);
      await page.getByRole('heading', { level: 1, name: screen.heading }).waitFor();
      await screen.act?.(page);
      await waitForTitle(page, screen.title);
      for (const line of await axeViolations(page)) found.push(`${screen.name}: ${line}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 0) found.push(`${screen.name}: ${overflow} px wider than the ${device} screen`);
      await screenshot(page, `a11y-${screen.name}-${scheme}-${device}`);
    };
    // The two pages (logged out, logged in) go through their screens side by side.
    await Promise.all([anon, me].map(async (page) => {
      for (const screen of screens.filter((one) => one.page === page)) await visit(screen);
    }));
    return found.map((line) => `${scheme}, ${device}: ${line}`);
  }

  it('every screen: its title, no serious axe violation, fits (light and dark, desktop and phone)', async () => {
    // The four variants side by side: most of the time goes to waiting.
    const variants = SCHEMES.flatMap((scheme) => Object.keys(DEVICES).map((device) => screenProblems(scheme, device)));
    assert.deepEqual((await Promise.all(variants)).flat().sort(), []);
  });

  for (const scheme of SCHEMES) {
    it(`text, input borders and the focus ring have enough contrast (${scheme})`, async () => {
      const page = await newPage({ colorScheme: scheme, storageState: adaState }, `contrast ${scheme}`);
      await page.goto(`${daemon.url}/profile`);
      await page.locator('#first').waitFor();
      // Tab from the bio's label onto the field: :focus-visible, as a keyboard user sees it.
      await page.locator('#last').focus();
      await page.keyboard.press('Shift+Tab');
      const ratios = await page.evaluate(() => {
        const rgb = (text) => text.match(/[\d.]+/g).slice(0, 3).map(Number);
        const lum = (text) => {
          const [r, g, b] = rgb(text).map((c) => c / 255).map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const ratio = (a, b) => {
          const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
          return (x + 0.05) / (y + 0.05);
        };
        const style = (el) => getComputedStyle(el);
        const input = document.getElementById('first');
        const card = style(input.closest('.card')).backgroundColor;
        const online = style(document.querySelector('.presence--online')).color;
        return {
          focused: document.activeElement.id,
          inputBorderOnCard: ratio(style(input).borderTopColor, card),
          inputBorderOnField: ratio(style(input).borderTopColor, style(input).backgroundColor),
          focusRingOnCard: ratio(style(input).outlineColor, card),
          focusRingWidth: parseFloat(style(input).outlineWidth),
          onlineTextOnCard: ratio(online, card),
        };
      });
      assert.equal(ratios.focused, 'first');
      assert.ok(ratios.focusRingWidth >= 2, `focus ring ${ratios.focusRingWidth} px`);
      assert.ok(ratios.focusRingOnCard >= 3, `focus ring ${ratios.focusRingOnCard.toFixed(2)}:1`);
      assert.ok(ratios.inputBorderOnCard >= 3, `input border on the card ${ratios.inputBorderOnCard.toFixed(2)}:1`);
      assert.ok(ratios.inputBorderOnField >= 3, `input border on the field ${ratios.inputBorderOnField.toFixed(2)}:1`);
      assert.ok(ratios.onlineTextOnCard >= 4.5, `"Online now" ${ratios.onlineTextOnCard.toFixed(2)}:1`);
      await screenshot(page, `a11y-focus-ring-${scheme}`);
    });
  }

  it('log in: empty fields named, the focus on the problem, then on the new screen', async () => {
    const page = await newPage({}, 'login');
    await page.goto(`${daemon.url}/login`);
    const submit = page.getByRole('button', { name: 'Log in', exact: true });
    await submit.click();
    assert.equal(await page.locator('#email-error').textContent(), 'Enter your email address.');
    assert.equal(await page.locator('#password-error').textContent(), 'Enter your password.');
    assert.equal(await page.locator('#email').getAttribute('aria-invalid'), 'true');
    assert.match(await focused(page), /^input#email/);

    await page.locator('#email').fill(ada.email);
    await submit.click();
    assert.equal(await page.locator('#email-error').count(), 0);
    assert.match(await focused(page), /^input#password/);

    // The toggle shows the password and says so with aria-pressed.
    await page.locator('#password').fill('not the password');
    const toggle = page.getByRole('button', { name: 'Show password' });
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    assert.equal(await page.locator('#password').getAttribute('type'), 'text');
    await toggle.click();
    assert.equal(await page.locator('#password').getAttribute('type'), 'password');

    // A wrong password: the message, with the focus on it, and never on
    // <body> while the button waits for the answer.
    await watchBodyFocus(page);
    await submit.click();
    const message = page.getByTestId('form-error');
    await message.waitFor();
    assert.equal(await message.textContent(), 'The email address or the password is wrong.');
    assert.match(await focused(page), /^p "The email address/);

    await page.locator('#password').fill(ada.password);
    await submit.click();
    await page.waitForURL(`${daemon.url}/online`);
    await until(async () => (await focused(page)).startsWith('h1#online-heading'), { what: 'the focus on Online now' });
    await waitForTitle(page, 'Online now — Munity');
    assert.equal(await bodyFocusCount(page), 0, 'the focus passed through <body>');

    // Log out: the focus goes to the log-in screen's heading.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/login$/);
    await until(async () => (await focused(page)).startsWith('h1#login-heading'), { what: 'the focus on Log in' });
  });

  it('register: every problem at once, fields in line, the focus on the first', async () => {
    const page = await newPage({}, 'register');
    await page.goto(`${daemon.url}/register`);
    const submit = page.getByRole('button', { name: 'Create account' });
    await submit.click();
    const errors = await page.$$eval('.field__error', (items) => items.map((p) => `${p.id}: ${p.textContent}`));
    assert.deepEqual(errors, [
      'first-error: Enter your first name.',
      'last-error: Enter your last name.',
      'email-error: Enter your email address.',
      'password-error: Enter a password.',
    ]);
    assert.match(await focused(page), /^input#first/);
    const box = async (id) => page.locator(`#${id}`).boundingBox();
    const inLine = async () => {
      const [first, last] = [await box('first'), await box('last')];
      assert.equal(Math.round(first.y), Math.round(last.y), 'First and Last name inputs on one line');
      assert.equal(Math.round(first.height), Math.round(last.height), 'First and Last name inputs of one height');
    };
    await inLine();
    // Only one of the two in error (as a server answer gives): still in line.
    await page.locator('#last').fill('Hopper');
    await page.locator('#password').fill('short');
    await submit.click();
    assert.equal(await page.locator('#last-error').count(), 0);
    assert.equal(await page.locator('#password-error').textContent(), 'Use at least 8 characters. This password has 5 characters.');
    await inLine();
    await screenshot(page, 'a11y-register-one-error');

    // The server's answer about a field goes to that field, with the focus.
    await page.locator('#first').fill('Grace');
    await page.locator('#email').fill(ada.email.toUpperCase());
    await page.locator('#password').fill('a long enough password');
    await submit.click();
    await page.locator('#email-error').waitFor();
    assert.equal(await page.locator('#email-error').textContent(),
      'An account with this email address already exists. Log in instead?');
    assert.match(await focused(page), /^input#email/);

    await page.locator('#email').fill(uniqueEmail('grace'));
    await watchBodyFocus(page);
    await submit.click();
    await page.waitForURL(`${daemon.url}/online`);
    await until(async () => (await focused(page)).startsWith('h1#online-heading'), { what: 'the focus on Online now' });
    assert.equal(await bodyFocusCount(page), 0, 'the focus passed through <body>');
  });

  it('opening a profile and saving one\'s own keep the focus off <body>', async () => {
    const page = await newPage({ storageState: adaState }, 'profile');
    await page.goto(`${daemon.url}/online`);
    const card = page.locator(`[data-testid="online-list"] li[data-user-id="${bob.id}"] a`);
    await card.focus();
    await watchBodyFocus(page);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${daemon.url}/users/${bob.id}`);
    await until(async () => (await focused(page)).startsWith('h1#profile-name'), { what: 'the focus on Bob\'s name' });
    await waitForTitle(page, 'Bob Marley — Munity');
    assert.equal(await bodyFocusCount(page), 0, 'the focus passed through <body>');

    await page.goto(`${daemon.url}/profile`);
    const save = page.getByRole('button', { name: 'Save' });
    await page.locator('#bio').fill('Counting machines.');
    await save.focus();
    await watchBodyFocus(page);
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    assert.match(await focused(page), /^button "Save"/);
    assert.equal(await bodyFocusCount(page), 0, 'the focus passed through <body>');

    await page.locator('#first').fill(' ');
    await save.click();
    assert.equal(await page.locator('#first-error').textContent(), 'Enter your first name.');
    assert.match(await focused(page), /^input#first/);
  });

  it('speaks German to a German browser', async () => {
    const page = await newPage({ locale: 'de-DE' }, 'german');
    await page.goto(`${daemon.url}/login`);
    await page.getByRole('heading', { level: 1, name: 'Anmelden' }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'de');
    await waitForTitle(page, 'Anmelden — Munity');
    await page.getByRole('button', { name: 'Anmelden', exact: true }).click();
    assert.equal(await page.locator('#email-error').textContent(), 'Geben Sie Ihre E-Mail-Adresse ein.');
    assert.deepEqual(await axeViolations(page), []);
    await screenshot(page, 'a11y-login-de');

    await page.getByLabel('E-Mail', { exact: true }).fill(ada.email);
    await page.getByLabel('Passwort', { exact: true }).fill(ada.password);
    await page.getByRole('button', { name: 'Anmelden', exact: true }).click();
    await page.waitForURL(`${daemon.url}/online`);
    await waitForTitle(page, 'Jetzt online — Munity');
    await page.getByRole('navigation').getByRole('link', { name: 'Jetzt online' }).waitFor();
    await page.getByRole('button', { name: 'Abmelden' }).waitFor();
    // The header's own picture is decoration: the link is just "Mein Profil".
    await page.getByRole('link', { name: 'Mein Profil', exact: true }).waitFor();
    assert.deepEqual(await axeViolations(page), []);
    await screenshot(page, 'a11y-online-de');
  });

  it('after too many failed logins, says when to try again (Retry-After)', async () => {
    const page = await newPage({}, 'rate-limit');
    await page.goto(`${daemon.url}/login`);
    await page.locator('#email').fill(uniqueEmail('nobody'));
    await page.locator('#password').fill('wrong guess');
    let retryAfter = null;
    // doc/api.md: 10 failures per address in 10 minutes, then 429.
    for (let attempt = 0; attempt < 15 && retryAfter === null; attempt++) {
      const answer = page.waitForResponse((r) => r.url().endsWith('/api/login'));
      await page.getByRole('button', { name: 'Log in', exact: true }).click();
      const response = await answer;
      if (response.status() === 429) retryAfter = Number(response.headers()['retry-after']);
      else assert.equal(response.status(), 401);
    }
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0, `Retry-After: ${retryAfter}`);
    const message = page.getByTestId('form-error');
    await until(async () => /^Too many attempts/.test(await message.textContent()), { what: 'the rate-limit message' });
    const expected = retryAfter < 90
      ? `Too many attempts. Try again in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`
      : `Too many attempts. Try again in ${Math.ceil(retryAfter / 60)} minute${Math.ceil(retryAfter / 60) === 1 ? '' : 's'}.`;
    assert.equal(await message.textContent(), expected);
    assert.match(await focused(page), /^p "Too many attempts/);
    await screenshot(page, 'a11y-rate-limited');
  });

  it('saw no page error, dialog or CSP violation', () => {
    assert.deepEqual(problems.flat(), []);
  });
});
