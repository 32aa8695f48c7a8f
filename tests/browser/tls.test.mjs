// The web client over HTTPS: munityd serving its own certificate
// (--tls-certificate), Chromium trusting it only through
// --ignore-certificate-errors. Two users register and see each other live,
// which needs wss:// through munityd's TLS relay; the session cookie is
// Secure.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  Daemon, checkPrerequisites, launchBrowser, makeCertificate, registerThroughUi, screenshot,
  uniqueEmail, waitForOnline, watchPage,
} from './lib.mjs';

describe('Munity over HTTPS in Chromium', { timeout: 5 * 60 * 1000 }, () => {
  let certDir;
  let daemon;
  let browser;
  const problems = [];

  before(async () => {
    checkPrerequisites();
    certDir = mkdtempSync(join(tmpdir(), 'munity-browser-tls-'));
    daemon = new Daemon({ tls: makeCertificate(certDir) });
    await daemon.start();
    browser = await launchBrowser({ extraArgs: ['--ignore-certificate-errors'] });
  });

  after(async () => {
    await browser?.close();
    await daemon?.dispose();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it('two users register over https and see each other through wss', async () => {
    assert.match(daemon.url, /^https:/);
    const contextA = await browser.newContext();
    const contextB = await browser.newContext();
    const pageA = await contextA.newPage();
    const pageB = await contextB.newPage();
    problems.push(watchPage(pageA, 'A'), watchPage(pageB, 'B'));

    const ada = await registerThroughUi(pageA, daemon.url, { first: 'Ada', last: 'Secure', email: uniqueEmail('ada-tls') });
    await waitForOnline(pageA, [ada.id]);
    const bob = await registerThroughUi(pageB, daemon.url, { first: 'Bob', last: 'Secure', email: uniqueEmail('bob-tls') });
    await waitForOnline(pageA, [ada.id, bob.id]);
    await waitForOnline(pageB, [ada.id, bob.id]);
    await screenshot(pageB, 'online-now-https');

    const cookies = await contextA.cookies(daemon.url);
    const session = cookies.find((c) => c.name === 'munity_session');
    assert.ok(session, 'a session cookie was set');
    assert.equal(session.secure, true, 'the session cookie is Secure over HTTPS');
    assert.equal(session.httpOnly, true);

    await pageB.close();
    await contextB.close();
    await waitForOnline(pageA, [ada.id], { timeout: 15000 });
    assert.deepEqual(problems.flat(), []);
    await contextA.close();
  });
});
