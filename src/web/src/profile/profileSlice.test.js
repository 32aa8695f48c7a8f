import { afterEach, describe, expect, it, vi } from 'vitest';
import { sessionEnded } from '../auth/sessionActions.js';
import { userUpdated } from '../online/onlineSlice.js';
import reducer, { fetchUser, MAX_AVATAR_BYTES, removeAvatar, uploadAvatar } from './profileSlice.js';

const alan = { id: 2, first: 'Alan', last: 'Turing', imageUrl: null, bio: 'Codes' };
const init = () => reducer(undefined, { type: '@@init' });

describe('profile slice', () => {
  it('keeps the profiles it fetched, by id', () => {
    let state = reducer(init(), { type: fetchUser.pending.type, meta: { arg: '2' } });
    expect(state.users['2'].status).toBe('loading');
    state = reducer(state, { type: fetchUser.fulfilled.type, payload: alan, meta: { arg: '2' } });
    expect(state.users[2].user).toEqual(alan);
  });

  it('remembers a failure such as no-such-user', () => {
    const state = reducer(init(), {
      type: fetchUser.rejected.type, payload: { status: 404, code: 'no-such-user' }, meta: { arg: 'x' }, error: {},
    });
    expect(state.users.x).toMatchObject({ status: 'failed', error: { code: 'no-such-user' } });
  });

  it('userUpdated freshens a known profile but keeps the bio', () => {
    let state = reducer(init(), { type: fetchUser.fulfilled.type, payload: alan, meta: { arg: '2' } });
    state = reducer(state, userUpdated({ id: 2, first: 'A.', last: 'M. Turing', imageUrl: '/avatars/2-x.webp' }));
    expect(state.users[2].user).toEqual({ ...alan, first: 'A.', last: 'M. Turing', imageUrl: '/avatars/2-x.webp' });
  });

  it('forgets everything when the session ends', () => {
    let state = reducer(init(), { type: fetchUser.fulfilled.type, payload: alan, meta: { arg: '2' } });
    state = reducer(state, sessionEnded());
    expect(state.users).toEqual({});
  });
});

describe('uploadAvatar', () => {
  const run = async (file) => {
    const actions = [];
    await uploadAvatar(file)((a) => actions.push(a), () => ({}), undefined);
    return actions.at(-1);
  };

  it('refuses types the server does not take, before sending', async () => {
    const action = await run({ type: 'image/svg+xml', size: 10 });
    expect(action.type).toBe(uploadAvatar.rejected.type);
    expect(action.payload.code).toBe('bad-image');
  });

  it('refuses pictures over 5 MiB, before sending', async () => {
    const action = await run({ type: 'image/png', size: MAX_AVATAR_BYTES + 1 });
    expect(action.payload.code).toBe('payload-too-large');
  });
});

describe('removeAvatar', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('calls DELETE /api/me/avatar and passes the user on as userUpdated', async () => {
    const me = { id: 2, first: 'Alan', last: 'Turing', imageUrl: null, email: 'a@t.uk', bio: '' };
    const fetchMock = vi.fn(async () => ({ status: 200, ok: true, json: async () => ({ user: me }) }));
    vi.stubGlobal('fetch', fetchMock);
    const actions = [];
    await removeAvatar()((a) => actions.push(a), () => ({}), undefined);
    expect(fetchMock).toHaveBeenCalledWith('/api/me/avatar', expect.objectContaining({ method: 'DELETE' }));
    expect(actions.map((a) => a.type)).toEqual([removeAvatar.pending.type, 'online/userUpdated', removeAvatar.fulfilled.type]);

    let state = reducer(init(), { type: fetchUser.fulfilled.type, payload: { ...alan, imageUrl: '/avatars/2-x.webp' }, meta: { arg: '2' } });
    for (const action of actions) state = reducer(state, action);
    expect(state.users[2].user.imageUrl).toBeNull();
    expect(state.avatar.status).toBe('removed');
  });

  it('keeps the error when the server refuses', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => ({
      status: 401, ok: false, json: async () => ({ error: { code: 'not-logged-in', message: 'Log in first' } }),
    })));
    const actions = [];
    await removeAvatar()((a) => actions.push(a), () => ({}), undefined);
    const state = actions.reduce(reducer, init());
    expect(state.avatar).toMatchObject({ status: 'failed', error: { code: 'not-logged-in' } });
  });
});
