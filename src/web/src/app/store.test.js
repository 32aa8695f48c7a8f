import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { login, logout } from '../auth/authSlice.js';
import { makeFakeWebSocket } from '../test/fakeWebSocket.js';
import { makeStore } from './store.js';

const me = { id: 7, first: 'Ada', last: 'Lovelace', imageUrl: null, bio: '', email: 'ada@example.org' };
const alan = { id: 2, first: 'Alan', last: 'Turing', imageUrl: null };

describe('the store and its socket', () => {
  let fetchMock;
  beforeEach(() => {
    fetchMock = vi.fn(async () => ({ status: 204, ok: true, json: async () => null }));
    vi.stubGlobal('fetch', fetchMock);
  });
  afterEach(() => vi.unstubAllGlobals());

  function setup() {
    const { FakeWebSocket, sockets } = makeFakeWebSocket();
    const { store, socket } = makeStore({
      socketOptions: { url: 'ws://t/ws', WebSocketImpl: FakeWebSocket, checkSession: async () => true },
    });
    return { store, socket, sockets };
  }

  it('opens the socket when a session starts, and the events fill the online list', () => {
    const { store, sockets } = setup();
    expect(sockets).toHaveLength(0);
    store.dispatch({ type: login.fulfilled.type, payload: me });
    store.dispatch({ type: login.fulfilled.type, payload: me });
    expect(sockets).toHaveLength(1);
    expect(store.getState().connection.status).toBe('connecting');

    sockets[0].serverOpen();
    sockets[0].serverSend('onlineUsers', [me, alan]);
    sockets[0].serverSend('userJoined', alan);
    expect(store.getState().online.ids).toEqual([7, 2]);
    expect(store.getState().connection.status).toBe('open');

    sockets[0].serverClose(1001);
    expect(store.getState().connection.status).toBe('reconnecting');
  });

  it('closes the socket and forgets the list on logout', async () => {
    const { store, sockets } = setup();
    store.dispatch({ type: login.fulfilled.type, payload: me });
    sockets[0].serverOpen();
    sockets[0].serverSend('onlineUsers', [me, alan]);
    await store.dispatch(logout());
    expect(fetchMock).toHaveBeenCalledWith('/api/logout', expect.objectContaining({ method: 'POST' }));
    expect(sockets[0].closedWith?.code).toBe(1000);
    expect(store.getState().online.ids).toEqual([]);
    expect(store.getState().auth.status).toBe('logged-out');
    expect(store.getState().connection.status).toBe('idle');
  });

  it('a 4001 close (logout in another tab) ends the session here too', () => {
    const { store, sockets } = setup();
    store.dispatch({ type: login.fulfilled.type, payload: me });
    sockets[0].serverOpen();
    sockets[0].serverSend('onlineUsers', [me]);
    sockets[0].serverClose(4001, 'logged out');
    expect(store.getState().auth.status).toBe('logged-out');
    expect(store.getState().online.ids).toEqual([]);
  });
});
