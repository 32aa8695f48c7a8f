import { describe, expect, it } from 'vitest';
import { userUpdated } from '../online/onlineSlice.js';
import { saveProfile } from '../profile/profileSlice.js';
import reducer, { checkSession, clearAuthError, login, logout, register } from './authSlice.js';
import { sessionEnded } from './sessionActions.js';

const me = { id: 7, first: 'Ada', last: 'Lovelace', imageUrl: null, bio: '', email: 'ada@example.org' };
const init = () => reducer(undefined, { type: '@@init' });
const fulfilled = (thunk, payload) => ({ type: thunk.fulfilled.type, payload });
const rejected = (thunk, payload) => ({ type: thunk.rejected.type, payload, error: {} });

describe('auth slice', () => {
  it('is unknown until the session is checked', () => {
    expect(init().status).toBe('unknown');
  });

  it('a valid session logs in', () => {
    const state = reducer(init(), fulfilled(checkSession, me));
    expect(state.status).toBe('logged-in');
    expect(state.me).toEqual(me);
  });

  it('401 from /api/me means logged out, anything else unreachable', () => {
    expect(reducer(init(), rejected(checkSession, { status: 401, code: 'not-logged-in' })).status).toBe('logged-out');
    const down = reducer(init(), rejected(checkSession, { status: 0, code: 'network', message: 'x' }));
    expect(down.status).toBe('unreachable');
    expect(down.error.code).toBe('network');
  });

  it('login and register: busy, then the user or the error', () => {
    let state = reducer(init(), { type: login.pending.type });
    expect(state.busy).toBe(true);
    state = reducer(state, rejected(login, { status: 401, code: 'bad-credentials', message: 'Wrong.' }));
    expect(state.busy).toBe(false);
    expect(state.error.code).toBe('bad-credentials');
    state = reducer(state, clearAuthError());
    expect(state.error).toBeNull();
    state = reducer(state, fulfilled(register, me));
    expect(state.status).toBe('logged-in');
  });

  it('the end of the session forgets the user', () => {
    let state = reducer(init(), fulfilled(login, me));
    state = reducer(state, { type: logout.pending.type });
    state = reducer(state, sessionEnded());
    expect(state.status).toBe('logged-out');
    expect(state.me).toBeNull();
    expect(state.busy).toBe(false);
  });

  it('follows the viewer\'s own edits and userUpdated, not other users\'', () => {
    let state = reducer(init(), fulfilled(login, me));
    state = reducer(state, fulfilled(saveProfile, { ...me, bio: 'Poet' }));
    expect(state.me.bio).toBe('Poet');
    state = reducer(state, userUpdated({ id: 7, first: 'Augusta', last: 'King', imageUrl: '/avatars/7-a.png' }));
    expect(state.me).toMatchObject({ first: 'Augusta', last: 'King', imageUrl: '/avatars/7-a.png', bio: 'Poet' });
    state = reducer(state, userUpdated({ id: 8, first: 'X', last: 'Y', imageUrl: null }));
    expect(state.me.first).toBe('Augusta');
  });
});
