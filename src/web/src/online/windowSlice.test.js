import { describe, expect, it } from 'vitest';
import { sessionEnded } from '../auth/sessionActions.js';
import { makeStore } from '../app/store.js';
import { makeFakeWebSocket } from '../test/fakeWebSocket.js';
import { onlineUsers } from './onlineSlice.js';
import reducer, {
  applyOps, expectedSize, onlineWindow, windowAround, windowChanged, windowCovers, windowRequest, windowSent,
} from './windowSlice.js';

const user = (id, first) => ({ id, first, last: 'X', imageUrl: null, status: 'online' });
const [ada, bea, cid, dan, eve] = [user(1, 'Ada'), user(2, 'Bea'), user(3, 'Cid'), user(4, 'Dan'), user(5, 'Eve')];
const run = (...actions) => actions.reduce(reducer, reducer(undefined, { type: '@@init' }));
const firsts = (state) => state.users.map((u) => u.first);
const snapshot = (data) => onlineWindow({ offset: 0, limit: 3, query: '', ...data });

describe('the window slice', () => {
  it('takes the first frame as the window', () => {
    const state = run(snapshot({ total: 5, users: [ada, bea, cid] }));
    expect(state.active).toBe(true);
    expect(firsts(state)).toEqual(['Ada', 'Bea', 'Cid']);
    expect(state).toMatchObject({ offset: 0, limit: 3, total: 5, everyone: 5, answered: 5, broken: false });
    expect(state.requested).toEqual({ offset: 0, limit: 3, query: '' });
  });

  it('applies insert, remove and update in order', () => {
    const state = run(
      snapshot({ total: 5, users: [ada, bea, cid] }),
      // Dan comes before Bea; Cid falls out of the window; Ada goes idle.
      windowChanged({ total: 6, ops: [{ op: 'insert', index: 1, user: dan }, { op: 'remove', index: 3 },
        { op: 'update', index: 0, user: { ...ada, status: 'idle' } }] }),
    );
    expect(firsts(state)).toEqual(['Ada', 'Dan', 'Bea']);
    expect(state.users[0].status).toBe('idle');
    expect(state.total).toBe(6);
    expect(state.broken).toBe(false);
  });

  it('keeps min(limit, max(0, total - offset)) users, or marks the window broken', () => {
    expect(expectedSize({ offset: 0, limit: 3, total: 5 })).toBe(3);
    expect(expectedSize({ offset: 4, limit: 3, total: 5 })).toBe(1);
    expect(expectedSize({ offset: 9, limit: 3, total: 5 })).toBe(0);
    // The total grew but no op brought the row: wrong size.
    const state = run(snapshot({ total: 2, users: [ada, bea] }), windowChanged({ total: 3, ops: [] }));
    expect(state.broken).toBe(true);
    expect(state.users).toEqual([]);
    expect(state.resyncs).toBe(1);
    // Frames meanwhile only bring the total; the next onlineWindow mends it.
    const later = [windowChanged({ total: 4, ops: [{ op: 'remove', index: 0 }] }),
      snapshot({ total: 4, users: [ada, bea, cid] })].reduce(reducer, state);
    expect(later.broken).toBe(false);
    expect(firsts(later)).toEqual(['Ada', 'Bea', 'Cid']);
  });

  it('marks an op out of range or malformed as broken', () => {
    const start = snapshot({ total: 3, users: [ada, bea, cid] });
    expect(run(start, windowChanged({ total: 3, ops: [{ op: 'update', index: 3, user: dan }] })).broken).toBe(true);
    expect(run(start, windowChanged({ total: 2, ops: [{ op: 'remove', index: 5 }] })).broken).toBe(true);
    expect(run(start, windowChanged({ total: 3, ops: [{ op: 'move', index: 0 }] })).broken).toBe(true);
    expect(run(start, windowChanged({ total: 3, ops: [{ op: 'update', index: 0, user: { id: -1 } }] })).broken).toBe(true);
    expect(applyOps([ada], [{ op: 'insert', index: 2, user: bea }])).toBeNull();
    expect(applyOps([ada], 'x')).toBeNull();
  });

  it('a snapshot of the wrong size is broken too', () => {
    expect(run(snapshot({ total: 5, users: [ada] })).broken).toBe(true);
  });

  it('matches an answer to the setWindow it answers', () => {
    const state = run(
      snapshot({ total: 5, users: [ada, bea, cid] }),
      windowSent({ offset: 2, limit: 3, query: '' }),
      windowSent({ offset: 0, limit: 3, query: 'e' }),
      onlineWindow({ offset: 2, limit: 3, query: '', total: 5, users: [cid, dan, eve] }),
    );
    expect(state.inFlight).toEqual([{ offset: 0, limit: 3, query: 'e' }]);
    expect(state.requested).toEqual({ offset: 0, limit: 3, query: 'e' });
    const answered = reducer(state, onlineWindow({ offset: 0, limit: 3, query: 'e', total: 2, users: [bea, eve] }));
    expect(answered.inFlight).toEqual([]);
    expect(answered).toMatchObject({ query: 'e', total: 2, answered: 2, everyone: 5 });
  });

  it('says what a search found once, not at every scroll', () => {
    const state = run(
      onlineWindow({ offset: 0, limit: 1, query: 'e', total: 2, users: [bea] }),
      onlineWindow({ offset: 1, limit: 1, query: 'e', total: 3, users: [eve] }),
    );
    expect(state.answered).toBe(2);
    expect(state.total).toBe(3);
  });

  it('ignores frames it cannot read, and ends with the full list or the session', () => {
    expect(onlineWindow({ offset: -1, limit: 3, query: '', total: 0, users: [] }).payload).toBeNull();
    expect(onlineWindow({ offset: 0, limit: 300, query: '', total: 0, users: [] }).payload).toBeNull();
    expect(onlineWindow({ offset: 0, limit: 3, query: '', total: 1, users: [{ id: 'x' }] }).payload).toBeNull();
    expect(run(windowChanged({ total: 3, ops: [] })).active).toBe(false);
    const state = snapshot({ total: 1, users: [ada] });
    expect(run(state, onlineUsers([ada])).active).toBe(false);
    expect(run(state, sessionEnded()).active).toBe(false);
  });
});

describe('the window around the screen', () => {
  it('starts 25 rows above and holds 100, more if the screen shows more', () => {
    expect(windowAround(0, 14, 1000)).toEqual({ offset: 0, limit: 100, query: '' });
    expect(windowAround(500, 514, 1000, 'a')).toEqual({ offset: 475, limit: 100, query: 'a' });
    expect(windowAround(500, 679, 1000)).toEqual({ offset: 475, limit: 200, query: '' });
    // At the end it holds as many rows as it can.
    expect(windowAround(990, 999, 1000)).toEqual({ offset: 900, limit: 100, query: '' });
    expect(windowAround(0, 9, 40)).toEqual({ offset: 0, limit: 100, query: '' });
  });

  it('is left where it is while the screen is well inside it', () => {
    const win = { offset: 475, limit: 100 };
    expect(windowCovers(win, 500, 514, 1000)).toBe(true);
    expect(windowCovers(win, 480, 494, 1000)).toBe(false);     // near the top
    expect(windowCovers(win, 556, 570, 1000)).toBe(false);     // near the bottom
    expect(windowCovers({ offset: 0, limit: 100 }, 0, 14, 1000)).toBe(true);
    expect(windowCovers({ offset: 900, limit: 100 }, 985, 999, 1000)).toBe(true);
    expect(windowCovers(null, 0, 1, 10)).toBe(false);
  });

  it('asks only for what the server takes', () => {
    expect(windowRequest({ offset: -5, limit: 999, query: `  ${'x'.repeat(150)} ` }))
      .toEqual({ offset: 0, limit: 200, query: 'x'.repeat(100) });
  });
});

describe('the store with a window socket', () => {
  function setup() {
    const { FakeWebSocket, sockets } = makeFakeWebSocket();
    const { store, socket } = makeStore({
      socketOptions: { url: 'ws://example.test/ws', WebSocketImpl: FakeWebSocket, forced: 'window', win: null, doc: null },
    });
    socket.start();
    const ws = sockets[0];
    ws.serverOpen();
    return { store, socket, ws };
  }
  const frames = (ws) => ws.sent.map((text) => JSON.parse(text)).filter((f) => f.event === 'setWindow');

  it('opens /ws?view=window in the test mode and sends setWindow when asked', async () => {
    const { store, ws } = setup();
    expect(ws.url).toBe('ws://example.test/ws?view=window');
    ws.serverSend('onlineWindow', { offset: 0, limit: 3, query: '', total: 5, users: [ada, bea, cid] });
    expect(store.getState().connection.status).toBe('open');
    store.dispatch({ type: 'window/windowRequested', payload: { offset: 2, limit: 3, query: '' } });
    await Promise.resolve();
    expect(frames(ws)).toEqual([{ event: 'setWindow', data: { offset: 2, limit: 3, query: '' } }]);
    expect(store.getState().window.inFlight).toHaveLength(1);
  });

  it('resyncs with a setWindow when a frame leaves the window at the wrong size', async () => {
    const { store, ws } = setup();
    ws.serverSend('onlineWindow', { offset: 0, limit: 3, query: '', total: 5, users: [ada, bea, cid] });
    ws.serverSend('windowChanged', { total: 5, ops: [{ op: 'remove', index: 0 }] });
    await Promise.resolve();
    expect(store.getState().window.broken).toBe(true);
    expect(frames(ws)).toEqual([{ event: 'setWindow', data: { offset: 0, limit: 3, query: '' } }]);
    // Once: the frames meanwhile ask nothing more.
    ws.serverSend('windowChanged', { total: 4, ops: [] });
    await Promise.resolve();
    expect(frames(ws)).toHaveLength(1);
    ws.serverSend('onlineWindow', { offset: 0, limit: 3, query: '', total: 4, users: [bea, cid, dan] });
    expect(store.getState().window.broken).toBe(false);
    expect(firsts(store.getState().window)).toEqual(['Bea', 'Cid', 'Dan']);
  });
});
