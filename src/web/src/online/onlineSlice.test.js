import { describe, expect, it, vi } from 'vitest';
import { sessionEnded } from '../auth/sessionActions.js';
import reducer, {
  chooseLayout, LAYOUT_KEY, layoutChanged, loadLayout, onlineUsers, searchChanged, selectIsOnline, selectJoinedAt,
  selectLeftAt,
  selectOnlineUsers, selectVisibleUsers, sortChanged, userJoined, userLeft, userUpdated,
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

  it('remembers when this tab saw a user join, not who was there already', () => {
    const state = run(onlineUsers([ada]), userJoined(alan, 1000), userJoined(alan, 2000), userUpdated(alan));
    const root = { online: state };
    expect(selectJoinedAt(root, 1)).toBe(null);
    expect(selectJoinedAt(root, 2)).toBe(1000);
    // Still there after a reconnect's snapshot; gone with the user.
    expect(selectJoinedAt({ online: reducer(state, onlineUsers([ada, alan])) }, 2)).toBe(1000);
    expect(selectJoinedAt({ online: reducer(state, onlineUsers([ada])) }, 2)).toBe(null);
    expect(selectJoinedAt({ online: reducer(state, userLeft({ id: 2 })) }, 2)).toBe(null);
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
    expect(state.byId[2]).toEqual({ ...alan, status: 'online' });
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

describe('status', () => {
  it('keeps each user\'s status from the events, online when a frame has none', () => {
    let state = run(onlineUsers([{ ...ada, status: 'idle' }, alan]));
    expect(state.byId[1].status).toBe('idle');
    expect(state.byId[2].status).toBe('online');
    state = reducer(state, userUpdated({ ...alan, status: 'idle' }));
    expect(state.byId[2].status).toBe('idle');
    // A user object without status (the HTTP API's, after DELETE /api/me/avatar) keeps it.
    state = reducer(state, userUpdated({ ...alan, imageUrl: null }));
    expect(state.byId[2].status).toBe('idle');
    state = reducer(state, userUpdated({ ...alan, status: 'IDLE' }));
    expect(state.byId[2].status).toBe('idle');
    state = reducer(state, userUpdated({ ...alan, status: 'online' }));
    expect(state.byId[2].status).toBe('online');
  });
});

describe('announcements', () => {
  it('announces joins and leaves by name, the last three, but not a snapshot', () => {
    let state = run(onlineUsers([ada, alan]));
    expect(state.announcements).toEqual([]);
    state = [userJoined(grace), userJoined(grace), userLeft({ id: 2 }), userLeft({ id: 2 }), userLeft({ id: 3 })]
      .reduce(reducer, state);
    expect(state.announcements.map((a) => [a.kind, a.name])).toEqual([
      ['joined', 'Grace Hopper'], ['left', 'Alan Turing'], ['left', 'Grace Hopper'],
    ]);
    state = [userJoined(alan), userJoined(grace)].reduce(reducer, state);
    expect(state.announcements.map((a) => a.name)).toEqual(['Grace Hopper', 'Alan Turing', 'Grace Hopper']);
    expect(new Set(state.announcements.map((a) => a.seq)).size).toBe(3);
  });

  it('remembers when a user left, until they come back', () => {
    let state = { online: run(onlineUsers([ada, alan]), userLeft({ id: 2 }, 1234)) };
    expect(selectLeftAt(state, 2)).toBe(1234);
    state = { online: reducer(state.online, userJoined(alan)) };
    expect(selectLeftAt(state, 2)).toBeNull();
  });
});

describe('search and order', () => {
  const zoe = { id: 4, first: 'Zoë', last: 'Ångström', imageUrl: null };
  const bob = { id: 5, first: 'bob', last: 'Marley', imageUrl: null };
  const view = (...actions) => ({ online: run(onlineUsers([grace, zoe, ada]), userJoined(bob), ...actions), auth: { me: grace } });
  const shown = (state) => selectVisibleUsers(state).map((u) => u.first);

  it('sorts A–Z by default, case aside, the viewer first', () => {
    expect(shown(view())).toEqual(['Grace', 'Ada', 'bob', 'Zoë']);
  });

  it('sorts the most recently joined first', () => {
    expect(shown(view(sortChanged('joined')))).toEqual(['Grace', 'bob', 'Ada', 'Zoë']);
    expect(view(sortChanged('joined'), sortChanged('nonsense')).online.sort).toBe('joined');
  });

  it('searches names, case and accents aside', () => {
    expect(shown(view(searchChanged('ZOE')))).toEqual(['Zoë']);
    expect(shown(view(searchChanged('angs')))).toEqual(['Zoë']);
    expect(shown(view(searchChanged('  a  ')))).toEqual(['Grace', 'Ada', 'bob', 'Zoë']);
    expect(shown(view(searchChanged('ce ho')))).toEqual(['Grace']);
    expect(shown(view(searchChanged('nobody')))).toEqual([]);
    // The count of everyone stays.
    expect(selectOnlineUsers(view(searchChanged('nobody')))).toHaveLength(4);
  });
});

describe('layout', () => {
  const memory = (initial = {}) => {
    const items = { ...initial };
    return { getItem: (k) => items[k] ?? null, setItem: (k, v) => { items[k] = String(v); }, items };
  };

  it('starts as the grid, or as the viewer left it', () => {
    expect(loadLayout(memory())).toBe('grid');
    expect(loadLayout(memory({ [LAYOUT_KEY]: 'compact' }))).toBe('compact');
    expect(loadLayout(memory({ [LAYOUT_KEY]: 'table' }))).toBe('grid');
    expect(loadLayout(null)).toBe('grid');
  });

  it('chooseLayout remembers the choice in localStorage', () => {
    const store = memory();
    vi.stubGlobal('localStorage', store);
    try {
      const actions = [];
      chooseLayout('compact')((a) => actions.push(a));
      chooseLayout('sideways')((a) => actions.push(a));
      expect(actions).toEqual([layoutChanged('compact')]);
      expect(store.items[LAYOUT_KEY]).toBe('compact');
      expect(loadLayout()).toBe('compact');
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('keeps the layout when the session ends', () => {
    const state = run(layoutChanged('compact'), searchChanged('x'), sessionEnded());
    expect(state.layout).toBe('compact');
    expect(state.query).toBe('');
  });
});
