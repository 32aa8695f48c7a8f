import { describe, expect, it, vi } from 'vitest';
import { makeStore } from '../app/store.js';
import { makeFakeWebSocket } from '../test/fakeWebSocket.js';
import { createSocket } from './socket.js';
import { chooseView, forcedView, FULL_BELOW, VIEW_KEY, viewUrl, WINDOW_ABOVE } from './view.js';

const people = (n, from = 1) => Array.from({ length: n }, (_, i) => ({ id: from + i, first: `P${from + i}`, last: 'X' }));

describe('chooseView', () => {
  it('goes to a window above 500 online, and back under 400 (not between)', () => {
    expect(chooseView('full', { onlineCount: WINDOW_ABOVE })).toBe('full');
    expect(chooseView('full', { onlineCount: WINDOW_ABOVE + 1 })).toBe('window');
    expect(chooseView('window', { everyone: FULL_BELOW })).toBe('window');
    expect(chooseView('window', { everyone: 450 })).toBe('window');
    expect(chooseView('window', { everyone: FULL_BELOW - 1 })).toBe('full');
    // Unknown sizes change nothing (a window holding a search, no list yet).
    expect(chooseView('window', { everyone: null })).toBe('window');
    expect(chooseView('full', { onlineCount: null })).toBe('full');
  });

  it('keeps what the test mode forces', () => {
    expect(chooseView('window', { forced: 'window', everyone: 1 })).toBe('window');
    expect(chooseView('full', { forced: 'full', onlineCount: 9000 })).toBe('full');
  });

  it('reads the test mode from the storage', () => {
    expect(forcedView({ getItem: (key) => (key === VIEW_KEY ? 'window' : null) })).toBe('window');
    expect(forcedView({ getItem: () => 'full' })).toBe('full');
    expect(forcedView({ getItem: () => 'grid' })).toBeNull();
    expect(forcedView({ getItem: () => { throw new Error('denied'); } })).toBeNull();
  });

  it('puts the view in the URL', () => {
    expect(viewUrl('ws://h/ws', 'window')).toBe('ws://h/ws?view=window');
    expect(viewUrl('ws://h/ws', 'full')).toBe('ws://h/ws');
  });
});

describe('switching the socket', () => {
  function setup(forced = null) {
    const { FakeWebSocket, sockets } = makeFakeWebSocket();
    const { store, socket } = makeStore({
      socketOptions: { url: 'ws://example.test/ws', WebSocketImpl: FakeWebSocket, forced, win: null, doc: null },
    });
    socket.start();
    sockets[0].serverOpen();
    return { store, socket, sockets };
  }
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

  it('a full list past 500 becomes a window socket, one socket at a time', async () => {
    const { store, sockets } = setup();
    sockets[0].serverSend('onlineUsers', people(500));
    await settle();
    expect(sockets).toHaveLength(1);
    sockets[0].serverSend('userJoined', people(1, 501)[0]);
    // The old one is closed first; the new one waits for its close event.
    expect(sockets[0].closedWith).toEqual({ code: 1000, reason: 'view' });
    expect(sockets).toHaveLength(1);
    // A frame of the closing socket changes nothing any more.
    sockets[0].serverSend('userJoined', people(1, 502)[0]);
    expect(store.getState().online.ids).toHaveLength(501);
    await settle();
    expect(sockets).toHaveLength(2);
    expect(sockets[1].url).toBe('ws://example.test/ws?view=window');
    sockets[1].serverOpen();
    sockets[1].serverSend('onlineWindow', { offset: 0, limit: 50, query: '', total: 501, users: people(50) });
    expect(store.getState().window.active).toBe(true);
    expect(store.getState().online.loaded).toBe(false);
    expect(store.getState().connection.status).toBe('open');
  });

  it('a window under 400 goes back to the full list, but not while it holds a search', async () => {
    const { store, sockets } = setup();
    sockets[0].serverSend('onlineUsers', people(501));
    await settle();
    sockets[1].serverOpen();
    sockets[1].serverSend('onlineWindow', { offset: 0, limit: 50, query: 'p', total: 10, users: people(10) });
    await settle();
    expect(sockets).toHaveLength(2);
    sockets[1].serverSend('onlineWindow', { offset: 0, limit: 50, query: '', total: 399, users: people(50) });
    await settle();
    expect(sockets).toHaveLength(3);
    expect(sockets[2].url).toBe('ws://example.test/ws');
    sockets[2].serverOpen();
    sockets[2].serverSend('onlineUsers', people(399));
    expect(store.getState().window.active).toBe(false);
    expect(store.getState().online.ids).toHaveLength(399);
  });

  it('stays a window in the test mode', async () => {
    const { sockets } = setup('window');
    expect(sockets[0].url).toBe('ws://example.test/ws?view=window');
    sockets[0].serverSend('onlineWindow', { offset: 0, limit: 50, query: '', total: 2, users: people(2) });
    await settle();
    expect(sockets).toHaveLength(1);
  });

  it('sends setWindow only on a live window socket', () => {
    const { FakeWebSocket, sockets } = makeFakeWebSocket();
    const socket = createSocket({ dispatch: vi.fn(), url: 'ws://x/ws', WebSocketImpl: FakeWebSocket, forced: 'window' });
    socket.start();
    expect(socket.setWindow({ offset: 0, limit: 10, query: '' })).toBe(false);   // not open
    sockets[0].serverOpen();
    sockets[0].serverSend('onlineWindow', { offset: 0, limit: 50, query: '', total: 0, users: [] });
    expect(socket.setWindow({ offset: 0, limit: 10, query: '' })).toBe(true);
    expect(JSON.parse(sockets[0].sent.at(-1))).toEqual({ event: 'setWindow', data: { offset: 0, limit: 10, query: '' } });
    socket.stop();
  });
});
