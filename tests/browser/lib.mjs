// Helpers for the browser tests: a throwaway munityd (embedded PostgreSQL in a
// temporary state directory) and Debian's chromium driven by playwright-core.
//
// Environment (meson sets them, see tests/meson.build):
//   MUNITYD                   the munityd binary to test (required)
//   MUNITY_WEB_DIR            the web client's build (default: src/web/dist)
//   MUNITY_BROWSER_ARTIFACTS  where screenshots and logs go
//                             (default: tests/browser-artifacts in the cwd)
//   MUNITY_CHROMIUM           the browser (default: /usr/bin/chromium)
//   MUNITY_UPDATE_DOC_SCREENSHOT=1  also write doc/online-now.png
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

export const SOURCE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEB_DIR = process.env.MUNITY_WEB_DIR || join(SOURCE_ROOT, 'src', 'web', 'dist');
export const ARTIFACTS = resolve(process.env.MUNITY_BROWSER_ARTIFACTS || join('tests', 'browser-artifacts'));
// The grace of munityd in these tests: long enough that "at once" (logout) and
// "after the grace" (closing the last tab) stay apart on a busy machine.
export const GRACE_MS = 2000;

// playwright-core is a devDependency of the web client: one package-lock.
function loadPlaywright() {
  const anchor = join(SOURCE_ROOT, 'src', 'web', 'package.json');
  try {
    return createRequire(anchor)('playwright-core');
  } catch (error) {
    throw new Error(`playwright-core is not installed: run "cd src/web && npm ci" (${error.message})`);
  }
}

export function checkPrerequisites() {
  const problems = [];
  if (!process.env.MUNITYD) problems.push('MUNITYD is not set (run the tests with meson test --suite browser)');
  else if (!existsSync(process.env.MUNITYD)) problems.push(`MUNITYD=${process.env.MUNITYD} does not exist`);
  if (!existsSync(join(WEB_DIR, 'index.html'))) {
    problems.push(`no web client build in ${WEB_DIR}: run "cd src/web && npm ci && npm run build"`);
  }
  const chromium = process.env.MUNITY_CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(chromium)) problems.push(`no browser at ${chromium}: apt-get install chromium`);
  if (problems.length > 0) throw new Error(problems.join('; '));
}

export async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

export const sleep = (ms) => new Promise((resolve_) => setTimeout(resolve_, ms));

/** Waits until `check()` returns something truthy; returns it. */
export async function until(check, { timeout = 10000, interval = 100, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await sleep(interval);
  }
}

// A munityd must not outlive the tests, even when meson's timeout ends them.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGTERM');
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    for (const child of running) child.kill('SIGTERM');
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

/**
 * munityd on a free loopback port, embedded PostgreSQL in a fresh state
 * directory, no D-Bus, a short grace. stop() and start() again keep the
 * state directory (and so the accounts and sessions).
 */
// A self-signed certificate for 127.0.0.1 made with Debian's openssl, in
// @dir: { cert, key } paths.
export function makeCertificate(dir) {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

// GET over HTTPS accepting the test's own certificate: the status, or an
// exception while nothing listens.
function httpsStatus(url) {
  return new Promise((resolve_, reject) => {
    const req = httpsRequest(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve_(res.statusCode);
    });
    req.on('error', reject);
    req.end();
  });
}

export class Daemon {
  // tls: { cert, key } to serve HTTPS and wss:// (--tls-certificate).
  // busAddress: a private session bus to publish on (D-Bus Disconnect).
  constructor({ tls = null, busAddress = null } = {}) {
    this.tls = tls;
    this.busAddress = busAddress;
    // munityd takes the state directory as it is (0700) and, as root, hands
    // it to the postgres account: so it is a temporary directory of its own,
    // directly under /tmp.
    this.stateDir = mkdtempSync(join(tmpdir(), 'munity-browser-state-'));
    this.configDir = mkdtempSync(join(tmpdir(), 'munity-browser-config-'));
    this.port = 0;
    this.process = null;
    this.starts = 0;
  }

  get url() {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  async start({ timeout = 90000 } = {}) {
    if (this.port === 0) this.port = await freePort();
    mkdirSync(ARTIFACTS, { recursive: true });
    this.starts += 1;
    const log = createWriteStream(join(ARTIFACTS, `munityd-${this.starts}.log`));
    const env = { ...process.env, MUNITY_WEB_DIR: WEB_DIR, XDG_CONFIG_HOME: this.configDir };
    if (this.busAddress) env.DBUS_SESSION_BUS_ADDRESS = this.busAddress;
    for (const name of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) {
      delete env[name];
    }
    const child = spawn(process.env.MUNITYD, [
      '--state-dir', this.stateDir,
      '--bus', this.busAddress ? 'session' : 'none',
      '--listen', `127.0.0.1:${this.port}`,
      '--leave-grace-ms', String(GRACE_MS),
      ...(this.tls ? ['--tls-certificate', this.tls.cert, '--tls-key', this.tls.key] : []),
    ], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.process = child;
    running.add(child);
    let exited = null;
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
    });

    const deadline = Date.now() + timeout;
    for (;;) {
      if (exited) throw new Error(`munityd exited (${JSON.stringify(exited)}); see ${log.path}`);
      try {
        const status = this.tls ? await httpsStatus(`${this.url}/healthz`) : (await fetch(`${this.url}/healthz`)).status;
        if (status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`munityd did not answer ${this.url}/healthz within ${timeout} ms`);
      await sleep(200);
    }
  }

  async stop() {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.process = null;
    const exit = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exit;
    clearTimeout(timer);
  }

  async dispose() {
    await this.stop();
    rmSync(this.stateDir, { recursive: true, force: true });
    rmSync(this.configDir, { recursive: true, force: true });
  }
}

// extraArgs: more Chromium switches, such as --ignore-certificate-errors for
// a munityd that serves the test's own certificate.
export async function launchBrowser({ extraArgs = [] } = {}) {
  const { chromium } = loadPlaywright();
  // playwright-core gives every launch a fresh temporary profile
  // (--user-data-dir) and removes it on close.
  return chromium.launch({
    executablePath: process.env.MUNITY_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
  });
}

/**
 * Watches a page for what must never happen: a JavaScript dialog (an
 * injected script ran), a page error, or a Content-Security-Policy
 * violation. `problems` lists them.
 */
export function watchPage(page, label) {
  const problems = [];
  page.on('dialog', async (dialog) => {
    problems.push(`${label}: a ${dialog.type()} dialog opened: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => problems.push(`${label}: page error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) {
      problems.push(`${label}: CSP: ${message.text()}`);
    }
  });
  return problems;
}

/**
 * Records the page's WebSockets: `urls`, and `sent`, every JSON frame the
 * page sent on any of them, parsed.
 */
export function recordSockets(page) {
  const record = { urls: [], sent: [] };
  page.on('websocket', (ws) => {
    record.urls.push(ws.url());
    ws.on('framesent', ({ payload }) => {
      try {
        record.sent.push(JSON.parse(payload));
      } catch {
        // not ours
      }
    });
  });
  return record;
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

// ---- the Online now list, as a page shows it ----------------------------

/** [{id, name, you, imageSrc}] of the Online now grid, in order. */
export function onlineEntries(page) {
  return page.$$eval('[data-testid="online-list"] li[data-user-id]', (items) => items.map((li) => ({
    id: Number(li.dataset.userId),
    name: li.querySelector('.person__name')?.textContent ?? '',
    you: li.querySelector('.person__you') !== null,
    imageSrc: li.querySelector('img')?.getAttribute('src') ?? null,
  })));
}

export async function onlineIds(page) {
  return (await onlineEntries(page)).map((entry) => entry.id).sort((a, b) => a - b);
}

export async function waitForOnline(page, ids, options = {}) {
  const wanted = [...ids].sort((a, b) => a - b).join(',');
  let last = '';
  await until(async () => {
    last = (await onlineIds(page)).join(',');
    return last === wanted;
  }, { timeout: 10000, ...options, what: `Online now to show [${wanted}]` }).catch((error) => {
    throw new Error(`${error.message}; it shows [${last}]`);
  });
}

/**
 * Records, inside the page, every moment a user's entry leaves the list (a
 * MutationObserver), so that even a flicker of a few milliseconds is seen.
 */
export async function watchForDisappearance(page, userId) {
  await page.evaluate((id) => {
    window.__munityGone = [];
    const list = document.querySelector('[data-testid="online-list"]');
    const present = () => list.querySelector(`li[data-user-id="${id}"]`) !== null;
    const observer = new MutationObserver(() => {
      if (!present()) window.__munityGone.push(Date.now());
    });
    observer.observe(list, { childList: true, subtree: true });
    window.__munityObserver = observer;
  }, userId);
}

export async function disappearances(page) {
  return page.evaluate(() => {
    window.__munityObserver?.disconnect();
    return window.__munityGone ?? [];
  });
}

// ---- actions through the UI ----------------------------------------------

let counter = 0;
export function uniqueEmail(prefix) {
  counter += 1;
  return `${prefix}.${Date.now().toString(36)}.${counter}@example.org`;
}

export async function registerThroughUi(page, baseUrl, { first, last, email, password = 'correct horse battery' }) {
  await page.goto(`${baseUrl}/register`);
  await page.getByLabel('First name', { exact: true }).fill(first);
  await page.getByLabel('Last name', { exact: true }).fill(last);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${baseUrl}/online`);
  const me = await page.evaluate(async () => (await (await fetch('/api/me')).json()).user);
  return { ...me, password };
}

export async function logInThroughUi(page, baseUrl, { email, password }) {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${baseUrl}/online`);
}

// ---- crowd members: a session and a bare WebSocket each ---------------------

export async function registerByApi(url, first, last, password = 'correct horse battery') {
  const response = await fetch(`${url}/api/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ first, last, email: uniqueEmail(first.toLowerCase().normalize('NFD').replace(/\p{M}/gu, '')), password }),
  });
  assert.equal(response.status, 201, `register ${first} ${last}`);
  // Not headers.getSetCookie(): Debian 12's Node 18 does not have it. get()
  // joins several Set-Cookie headers with ", ", which a session token
  // (base64url) never contains.
  const cookie = /(?:^|,\s*)(munity_session=[^;,]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1];
  assert.ok(cookie, `register ${first} ${last}: a session cookie`);
  return { ...(await response.json()).user, cookie };
}

/**
 * Opens `path` (/ws, or /ws?view=window) as `user` and keeps it open,
 * reading and dropping what comes.
 */
export async function openSocket(port, user, path = '/ws') {
  const socket = netConnect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write([
    `GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13',
    `Cookie: ${user.cookie}`, '', '',
  ].join('\r\n'));
  // Not `for await`: leaving that loop would destroy the socket.
  const head = await new Promise((resolve_, reject) => {
    let text = '';
    const onData = (chunk) => {
      text += chunk.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      resolve_(text);
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  assert.match(head, /^HTTP\/1\.1 101 /, `the handshake of ${user.first}`);
  socket.on('data', () => {});   // read and drop the frames
  socket.on('error', () => {});
  return socket;
}

// ---- a picture -------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buffer) {
  let c = 0xffffffff;
  for (const byte of buffer) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A real PNG: a `size`×`size` picture, a disc of `color` on a light ground. */
export function makePng(size = 96, color = [58, 92, 204]) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8;   // bit depth
  header[9] = 2;   // RGB
  const rows = [];
  const r = size / 2;
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x++) {
      const inside = (x - r + 0.5) ** 2 + (y - r * 0.8) ** 2 < (r * 0.45) ** 2 ||
        ((x - r + 0.5) ** 2) / (r * 0.8) ** 2 + ((y - size) ** 2) / (r * 0.7) ** 2 < 1;
      const pixel = inside ? color : [236, 240, 250];
      row.set(pixel, 1 + x * 3);
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
