import { describe, expect, it } from 'vitest';
import { sessionEnded } from '../auth/sessionActions.js';
import reducer, {
  onlineUsers, selectIsOnline, selectOnlineUsers, userJoined, userLeft, userUpdated,
} from './onlineSlice.js';

const ada = { id: 1, first: 'Ada', last: 'Lovelace', imageUrl: null };
const alan = { id: 2, first: 'Alan', last: 'Turing', imageUrl: '/avatars/2-aa.webp' };
const grace = { id: 3, first: 'Grace', last: 'Hopper', imageUrl: null };

const run = (...actions) => actions.reduce(reducer, reducer(undefined, { type: '@@init' }));
const names = (state) => state.ids.map((id) => state.byId[id].first);

describe('online slice', () => {
  it('starts empty and not loaded', () => {
    const state = run();
    expect(state.ids).toEqual([]);
    expect(state.loaded).toBe(false);
  });

  it('onlineUsers replaces the whole list', () => {
    const state = run(onlineUsers([ada, alan]), onlineUsers([grace]));
    expect(names(state)).toEqual(['Grace']);
    expect(state.loaded).toBe(true);
  });

  it('onlineUsers keeps each user once', () => {
    const state = run(onlineUsers([ada, alan, { ...ada, first: 'Ada2' }]));
    expect(state.ids).toEqual([1, 2]);
    expect(state.byId[1].first).toBe('Ada2');
  });

  it('userJoined appends, and never duplicates', () => {
    const state = run(onlineUsers([ada]), userJoined(alan), userJoined(alan), userJoined(grace));
    expect(names(state)).toEqual(['Ada', 'Alan', 'Grace']);
  });

  it('userLeft removes, and ignores users not in the list', () => {
    const state = run(onlineUsers([ada, alan]), userLeft({ id: 1 }), userLeft({ id: 99 }), userLeft({}));
    expect(names(state)).toEqual(['Alan']);
  });

  it('userUpdated changes name and picture in place, only for listed users', () => {
    const state = run(
      onlineUsers([ada, alan]),
      userUpdated({ ...ada, first: 'Augusta', imageUrl: '/avatars/1-bb.png' }),
      userUpdated(grace),
    );
    expect(names(state)).toEqual(['Augusta', 'Alan']);
    expect(state.byId[1].imageUrl).toBe('/avatars/1-bb.png');
    expect(state.byId[3]).toBeUndefined();
  });

  it('drops malformed users and unknown fields', () => {
    const state = run(onlineUsers([ada, null, { id: 'x' }, { id: -1 }, { ...alan, email: 'a@b.c', bio: 'hi' }]));
    expect(state.ids).toEqual([1, 2]);
    expect(state.byId[2]).toEqual(alan);
  });

  it('treats an empty imageUrl as no picture', () => {
    const state = run(onlineUsers([{ ...ada, imageUrl: '' }]));
    expect(state.byId[1].imageUrl).toBeNull();
  });

  it('forgets everything when the session ends', () => {
    const state = run(onlineUsers([ada]), sessionEnded());
    expect(state.ids).toEqual([]);
    expect(state.loaded).toBe(false);
  });

  it('applying events in order gives the server set', () => {
    // A snapshot then deltas, as doc/protocol.md §3 guarantees them.
    const state = run(
      onlineUsers([ada]),
      userJoined(alan),
      userJoined(grace),
      userLeft({ id: 2 }),
      userJoined(alan),
      userLeft({ id: 1 }),
    );
    expect(state.ids).toEqual([3, 2]);
  });
});

describe('online selectors', () => {
  it('puts the viewer first and keeps the others in arrival order', () => {
    const online = run(onlineUsers([ada, alan, grace]));
    const state = { online, auth: { me: { ...grace, email: 'g@h.io' } } };
    expect(selectOnlineUsers(state).map((u) => u.id)).toEqual([3, 1, 2]);
    // memoised: the same array while nothing changed
    expect(selectOnlineUsers(state)).toBe(selectOnlineUsers(state));
  });

  it('tells who is online', () => {
    const state = { online: run(onlineUsers([ada])) };
    expect(selectIsOnline(state, 1)).toBe(true);
    expect(selectIsOnline(state, '1')).toBe(true);
    expect(selectIsOnline(state, 2)).toBe(false);
  });
});
