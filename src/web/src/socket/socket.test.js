import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sessionEnded } from '../auth/sessionActions.js';
import { makeFakeWebSocket } from '../test/fakeWebSocket.js';
import {
  backoffDelay, BACKOFF_MAX_MS, CLOSE_DISCONNECTED, CLOSE_LOGGED_OUT, createSocket, frameToAction, IDLE_AFTER_MS,
  idleAfterMs, socketUrl,
} from './socket.js';

const ada = { id: 1, first: 'Ada', last: 'Lovelace', imageUrl: null };
const alan = { id: 2, first: 'Alan', last: 'Turing', imageUrl: null };

function setup({ checkSession = async () => true, random = () => 0.5, win = null, doc = null, idleAfter } = {}) {
  const { FakeWebSocket, sockets } = makeFakeWebSocket();
  const actions = [];
  const socket = createSocket({
    dispatch: (action) => actions.push(action),
    url: 'ws://example.test/ws',
    WebSocketImpl: FakeWebSocket,
    random,
    checkSession,
    win,
    doc,
    idleAfter,
  });
  const types = () => actions.map((a) => a.type);
  return { socket, sockets, actions, types };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('backoffDelay', () => {
  it('grows exponentially, with jitter between half and all of it', () => {
    expect(backoffDelay(0, () => 0)).toBe(250);
    expect(backoffDelay(0, () => 1)).toBe(500);
    expect(backoffDelay(3, () => 0)).toBe(2000);
    expect(backoffDelay(3, () => 1)).toBe(4000);
  });

  it('is capped', () => {
    expect(backoffDelay(50, () => 1)).toBe(BACKOFF_MAX_MS);
    expect(backoffDelay(1000, () => 0)).toBe(BACKOFF_MAX_MS / 2);
  });
});

describe('frameToAction', () => {
  it('maps the four events to actions', () => {
    expect(frameToAction(JSON.stringify({ event: 'onlineUsers', data: [ada] })).type).toBe('online/onlineUsers');
    expect(frameToAction(JSON.stringify({ event: 'userJoined', data: ada })).type).toBe('online/userJoined');
    expect(frameToAction(JSON.stringify({ event: 'userLeft', data: { id: 1 } })).payload).toMatchObject({ id: 1 });
    expect(frameToAction(JSON.stringify({ event: 'userUpdated', data: ada })).type).toBe('online/userUpdated');
  });

  it('ignores anything else', () => {
    expect(frameToAction('not json')).toBeNull();
    expect(frameToAction('null')).toBeNull();
    expect(frameToAction(JSON.stringify({ event: 'error', data: { code: 'bad-message' } }))).toBeNull();
    expect(frameToAction(JSON.stringify({ event: 'toString' }))).toBeNull();
    expect(frameToAction(JSON.stringify({ event: 'onlineUsers', data: 'x' }))).toBeNull();
  });
});

describe('socketUrl', () => {
  it('is /ws on the same origin', () => {
    expect(socketUrl({ protocol: 'http:', host: '127.0.0.1:8080' })).toBe('ws://127.0.0.1:8080/ws');
    expect(socketUrl({ protocol: 'https:', host: 'munity.example.org' })).toBe('wss://munity.example.org/ws');
  });
});

describe('the socket module', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('opens one socket however often start() is called (StrictMode)', () => {
    const { socket, sockets } = setup();
    socket.start();
    socket.start();
    socket.start();
    expect(sockets).toHaveLength(1);
    expect(sockets[0].url).toBe('ws://example.test/ws');
  });

  it('attaches its listeners once per socket', () => {
    const { socket, sockets } = setup();
    socket.start();
    expect(sockets[0].listeners.message).toHaveLength(1);
    expect(sockets[0].listeners.close).toHaveLength(1);
    socket.start();
    expect(sockets[0].listeners.message).toHaveLength(1);
  });

  it('dispatches the server events in order, and is live after onlineUsers', () => {
    const { socket, sockets, types } = setup();
    socket.start();
    const ws = sockets[0];
    ws.serverOpen();
    ws.serverSend('onlineUsers', [ada]);
    ws.serverSend('userJoined', alan);
    ws.serverSend('userUpdated', { ...alan, first: 'A.' });
    ws.serverSend('userLeft', { id: 2 });
    ws.serverSendRaw('garbage');
    ws.serverSend('error', { code: 'bad-message' });
    expect(types()).toEqual([
      'connection/presenceChanged',
      'connection/socketConnecting',
      'online/onlineUsers',
      'connection/socketLive',
      'online/userJoined',
      'online/userUpdated',
      'online/userLeft',
    ]);
  });

  it('reconnects with growing delays after the server goes away, and the new snapshot replaces the list', async () => {
    const random = vi.fn(() => 1);
    const { socket, sockets, actions, types } = setup({ random });
    socket.start();
    sockets[0].serverOpen();
    sockets[0].serverSend('onlineUsers', [ada, alan]);

    sockets[0].serverClose(1001, 'going away');
    expect(types().at(-1)).toBe('connection/socketRetrying');
    expect(actions.at(-1).payload.attempt).toBe(1);

    vi.advanceTimersByTime(499);
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(2);
    expect(actions.at(-1)).toMatchObject({ type: 'connection/socketConnecting', payload: { attempt: 1 } });

    // The server is still down: the handshake fails; the session is checked, then a longer wait.
    sockets[1].serverClose(1006);
    await vi.advanceTimersByTimeAsync(0);
    expect(types().at(-1)).toBe('connection/socketRetrying');
    await vi.advanceTimersByTimeAsync(999);
    expect(sockets).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(3);

    // Back: the first frame replaces the list, and the delays start over.
    sockets[2].serverOpen();
    sockets[2].serverSend('onlineUsers', [alan]);
    expect(actions.at(-2)).toMatchObject({ type: 'online/onlineUsers', payload: [alan] });
    expect(types().at(-1)).toBe('connection/socketLive');

    sockets[2].serverClose(1006);
    vi.advanceTimersByTime(500);
    expect(sockets).toHaveLength(4);
    expect(random).toHaveBeenCalled();
  });

  it('never has two sockets open at once while reconnecting', async () => {
    const { socket, sockets } = setup({ random: () => 0 });
    socket.start();
    for (let i = 0; i < 6; i++) {
      sockets.at(-1).serverClose(1006);
      await vi.advanceTimersByTimeAsync(20000);
      socket.start();
      const open = sockets.filter((ws) => ws.readyState !== 3);
      expect(open).toHaveLength(1);
    }
  });

  it('ignores late events from a socket that is no longer current', async () => {
    const { socket, sockets, actions } = setup();
    socket.start();
    const old = sockets[0];
    old.serverOpen();
    old.serverSend('onlineUsers', [ada]);
    old.serverClose(1006);
    vi.advanceTimersByTime(20000);
    const count = actions.length;
    old.serverSend('userJoined', alan);
    old.serverClose(1006);
    expect(actions).toHaveLength(count);
    expect(sockets).toHaveLength(2);
  });

  it('does not reconnect after 4001 (logged out) and ends the session', () => {
    const { socket, sockets, actions } = setup();
    socket.start();
    sockets[0].serverOpen();
    sockets[0].serverSend('onlineUsers', [ada]);
    sockets[0].serverClose(CLOSE_LOGGED_OUT, 'logged out');
    vi.advanceTimersByTime(60000);
    expect(sockets).toHaveLength(1);
    expect(actions.at(-1)).toEqual(sessionEnded());
    expect(socket.active).toBe(false);
  });

  it('does not reconnect after 4003 (disconnected) until asked to', () => {
    const { socket, sockets, types } = setup();
    socket.start();
    sockets[0].serverOpen();
    sockets[0].serverSend('onlineUsers', [ada]);
    sockets[0].serverClose(CLOSE_DISCONNECTED, 'disconnected');
    vi.advanceTimersByTime(60000);
    expect(sockets).toHaveLength(1);
    expect(types().at(-1)).toBe('connection/socketDisconnected');
    socket.reconnectNow();
    expect(sockets).toHaveLength(2);
  });

  it('ends the session when the socket cannot open and /api/me says 401', async () => {
    const { socket, sockets, actions } = setup({ checkSession: async () => false });
    socket.start();
    sockets[0].serverClose(1006);
    await vi.advanceTimersByTimeAsync(60000);
    expect(sockets).toHaveLength(1);
    expect(actions.at(-1)).toEqual(sessionEnded());
  });

  it('stop() closes the socket and cancels a pending retry', async () => {
    const { socket, sockets, types } = setup();
    socket.start();
    sockets[0].serverOpen();
    sockets[0].serverSend('onlineUsers', [ada]);
    socket.stop();
    expect(sockets[0].closedWith).toEqual({ code: 1000, reason: 'bye' });
    await vi.advanceTimersByTimeAsync(60000);
    expect(sockets).toHaveLength(1);
    expect(types().at(-1)).toBe('connection/socketIdle');

    socket.start();
    sockets[1].serverClose(1001);
    socket.stop();
    await vi.advanceTimersByTimeAsync(60000);
    expect(sockets).toHaveLength(2);
  });

  it('reconnectNow() skips the wait', () => {
    const { socket, sockets } = setup();
    socket.start();
    sockets[0].serverOpen();
    sockets[0].serverSend('onlineUsers', [ada]);
    sockets[0].serverClose(1001);
    socket.reconnectNow();
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(60000);
    expect(sockets).toHaveLength(2);
  });
});

// A window and a document for the socket module: events it listens to, and
// the page's visibility.
function makePage() {
  const win = new EventTarget();
  const doc = new EventTarget();
  doc.visibilityState = 'visible';
  const setVisible = (visible) => {
    doc.visibilityState = visible ? 'visible' : 'hidden';
    doc.dispatchEvent(new Event('visibilitychange'));
  };
  return { win, doc, setVisible };
}

const sentStatuses = (ws) => ws.sent.map((text) => JSON.parse(text)).filter((f) => f.event === 'setStatus')
  .map((f) => f.data.status);

describe('status: online and idle', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function live(options) {
    const page = makePage();
    const made = setup({ win: page.win, doc: page.doc, ...options });
    made.socket.start();
    made.sockets[0].serverOpen();
    made.sockets[0].serverSend('onlineUsers', [ada]);
    return { ...made, ...page };
  }

  it('reads the idle timeout from the page storage, five minutes by default', () => {
    expect(idleAfterMs(null)).toBe(IDLE_AFTER_MS);
    expect(IDLE_AFTER_MS).toBe(300000);
    expect(idleAfterMs({ getItem: () => '1500' })).toBe(1500);
    expect(idleAfterMs({ getItem: () => 'soon' })).toBe(IDLE_AFTER_MS);
    expect(idleAfterMs({ getItem: () => { throw new Error('denied'); } })).toBe(IDLE_AFTER_MS);
  });

  it('goes idle after the timeout without input, and online again on input', () => {
    const { socket, sockets, win, actions } = live({ idleAfter: 1000 });
    vi.advanceTimersByTime(600);
    win.dispatchEvent(new Event('keydown'));          // input postpones it
    vi.advanceTimersByTime(600);
    expect(sentStatuses(sockets[0])).toEqual([]);
    vi.advanceTimersByTime(400);
    expect(sentStatuses(sockets[0])).toEqual(['idle']);
    expect(socket.presence).toBe('idle');
    expect(actions.at(-1)).toEqual({ type: 'connection/presenceChanged', payload: 'idle' });
    vi.advanceTimersByTime(5000);
    expect(sentStatuses(sockets[0])).toEqual(['idle']);   // said once
    win.dispatchEvent(new Event('pointermove'));
    win.dispatchEvent(new Event('pointermove'));
    expect(sentStatuses(sockets[0])).toEqual(['idle', 'online']);
    vi.advanceTimersByTime(1000);
    expect(sentStatuses(sockets[0])).toEqual(['idle', 'online', 'idle']);
  });

  it('is idle while the tab is hidden, and online when it is shown again', () => {
    const { sockets, setVisible, win } = live({ idleAfter: 60000 });
    setVisible(false);
    expect(sentStatuses(sockets[0])).toEqual(['idle']);
    win.dispatchEvent(new Event('pointermove'));        // not input while hidden
    expect(sentStatuses(sockets[0])).toEqual(['idle']);
    setVisible(true);
    expect(sentStatuses(sockets[0])).toEqual(['idle', 'online']);
  });

  it('tells a new socket it is idle once the snapshot has come (every socket starts online)', () => {
    const { sockets, setVisible } = live({ idleAfter: 60000 });
    setVisible(false);
    sockets[0].serverClose(1006);
    vi.advanceTimersByTime(20000);
    expect(sockets).toHaveLength(2);
    sockets[1].serverOpen();
    expect(sockets[1].sent).toEqual([]);
    sockets[1].serverSend('onlineUsers', [ada]);
    expect(sentStatuses(sockets[1])).toEqual(['idle']);
  });

  it('starts idle when the tab is hidden from the start', () => {
    const page = makePage();
    page.doc.visibilityState = 'hidden';
    const { socket, sockets } = setup({ win: page.win, doc: page.doc });
    socket.start();
    sockets[0].serverOpen();
    sockets[0].serverSend('onlineUsers', [ada]);
    expect(sentStatuses(sockets[0])).toEqual(['idle']);
  });

  it('stops listening to the page when the session ends', () => {
    const { socket, sockets, win } = live({ idleAfter: 1000 });
    socket.stop();
    vi.advanceTimersByTime(5000);
    win.dispatchEvent(new Event('keydown'));
    expect(sentStatuses(sockets[0])).toEqual([]);
  });
});

describe('honest reconnecting', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('waits at most 10 s between tries', () => {
    expect(BACKOFF_MAX_MS).toBe(10000);
    expect(backoffDelay(20, () => 1)).toBe(10000);
  });

  it('says since when the list is not live, and keeps that time across tries', async () => {
    const { socket, sockets, actions } = setup({ random: () => 1 });
    socket.start();
    sockets[0].serverOpen();
    sockets[0].serverSend('onlineUsers', [ada]);
    const lost = Date.now();
    sockets[0].serverClose(1006);
    expect(actions.at(-1).payload.staleSince).toBe(lost);
    vi.advanceTimersByTime(500);
    sockets[1].serverClose(1006);                        // never got going: no new time
    await vi.advanceTimersByTimeAsync(0);
    expect(actions.at(-1)).toMatchObject({ type: 'connection/socketRetrying', payload: { staleSince: null } });
  });

  for (const [what, fire] of [
    ['the network comes back', ({ win }) => win.dispatchEvent(new Event('online'))],
    ['the window gets the focus', ({ win }) => win.dispatchEvent(new Event('focus'))],
    ['the tab is shown again', ({ setVisible }) => { setVisible(false); setVisible(true); }],
  ]) {
    it(`tries again at once when ${what}`, () => {
      const page = makePage();
      const { socket, sockets } = setup({ win: page.win, doc: page.doc, random: () => 1 });
      socket.start();
      sockets[0].serverOpen();
      sockets[0].serverSend('onlineUsers', [ada]);
      sockets[0].serverClose(1006);
      vi.advanceTimersByTime(500);
      sockets[1].serverOpen();
      sockets[1].serverSend('onlineUsers', [ada]);
      sockets[1].serverClose(1006);                      // a retry is now 0.5 s away…
      fire(page);                                        // …but this does not wait
      expect(sockets).toHaveLength(3);
      vi.advanceTimersByTime(60000);
      expect(sockets).toHaveLength(3);
      fire(page);                                        // while open: nothing
      expect(sockets).toHaveLength(3);
    });
  }

  it('after 4003 waits for the viewer, whatever the page does', () => {
    const page = makePage();
    const { socket, sockets, actions } = setup({ win: page.win, doc: page.doc });
    socket.start();
    sockets[0].serverOpen();
    sockets[0].serverSend('onlineUsers', [ada]);
    sockets[0].serverClose(CLOSE_DISCONNECTED, 'disconnected');
    expect(actions.at(-1).type).toBe('connection/socketDisconnected');
    expect(actions.at(-1).payload.staleSince).toEqual(expect.any(Number));
    page.win.dispatchEvent(new Event('online'));
    page.win.dispatchEvent(new Event('focus'));
    page.setVisible(true);
    vi.advanceTimersByTime(60000);
    expect(sockets).toHaveLength(1);
    socket.reconnectNow();
    expect(sockets).toHaveLength(2);
  });
});
