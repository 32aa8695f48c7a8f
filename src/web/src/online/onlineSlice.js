// Who is online right now: the list the Online now screen shows, kept
// current by the socket module from the server's events (doc/protocol.md §3),
// and how the viewer looks at it (search, order, grid or compact list).
// Keyed by user id, so a user is in it once however many tabs they have.
import { createSelector, createSlice } from '@reduxjs/toolkit';
import { sessionEnded } from '../auth/sessionActions.js';
import { displayName, foldForSearch, pickUser } from '../common/user.js';
import { currentLanguage } from '../i18n/index.js';
import { onlineWindow } from './windowSlice.js';

export const SORTS = ['name', 'joined'];
export const LAYOUTS = ['grid', 'compact'];
export const LAYOUT_KEY = 'munity.onlineLayout';
// How many join/leave announcements the live region keeps.
const ANNOUNCEMENTS_KEPT = 3;

function storage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;   // storage disabled
  }
}

/** The layout the viewer chose last time, or the grid. */
export function loadLayout(store = storage()) {
  try {
    const saved = store?.getItem(LAYOUT_KEY);
    return LAYOUTS.includes(saved) ? saved : 'grid';
  } catch {
    return 'grid';
  }
}

function initialState(layout = loadLayout()) {
  return {
    ids: [],      // in the order users arrived
    byId: {},
    // false until the first onlineUsers snapshot of this session.
    loaded: false,
    // Recent joins and leaves for the screen reader: {seq, kind, name}.
    announcements: [],
    seq: 0,
    // id → when (ms since the epoch) this tab saw the user leave, for
    // "last seen" on a profile before the server's answer says it.
    leftAt: {},
    // id → when this tab saw the user join (a userJoined, not a snapshot),
    // for "online for 12 minutes" on a profile.
    joinedAt: {},
    query: '',
    sort: 'name',
    layout,
  };
}

function put(state, user) {
  const old = state.byId[user.id];
  if (!old) state.ids.push(user.id);
  delete state.leftAt[user.id];
  // A user without a status (the HTTP API's) keeps the one the list knows.
  state.byId[user.id] = { status: old?.status ?? 'online', ...user };
}

function announce(state, kind, user) {
  state.seq += 1;
  state.announcements.push({ seq: state.seq, kind, name: displayName(user) });
  if (state.announcements.length > ANNOUNCEMENTS_KEPT) state.announcements.shift();
}

const onlineSlice = createSlice({
  name: 'online',
  initialState,
  reducers: {
    // The first frame on every socket: the whole list, which replaces ours.
    // It announces nothing: it is the state of things, not a change.
    onlineUsers: {
      reducer(state, action) {
        state.ids = [];
        state.byId = {};
        for (const user of action.payload) put(state, user);
        // A join this tab saw stays known while the user stays online.
        for (const id of Object.keys(state.joinedAt)) if (!(id in state.byId)) delete state.joinedAt[id];
        state.loaded = true;
      },
      prepare(users) {
        return { payload: (Array.isArray(users) ? users : []).map(pickUser).filter(Boolean) };
      },
    },
    userJoined: {
      reducer(state, action) {
        const user = action.payload;
        if (!user) return;
        if (!(user.id in state.byId)) {
          announce(state, 'joined', user);
          state.joinedAt[user.id] = action.meta.at;
        }
        put(state, user);
      },
      prepare: (user, at = Date.now()) => ({ payload: pickUser(user), meta: { at } }),
    },
    userLeft: {
      reducer(state, action) {
        const id = action.payload?.id;
        if (!(id in state.byId)) return;
        announce(state, 'left', state.byId[id]);
        state.leftAt[id] = action.payload.at;
        delete state.joinedAt[id];
        delete state.byId[id];
        state.ids = state.ids.filter((other) => other !== id);
      },
      prepare: (data, at = Date.now()) => ({ payload: { id: data?.id, at } }),
    },
    // Name, picture or status changed; the position in the grid stays.
    userUpdated: {
      reducer(state, action) {
        const user = action.payload;
        if (user && user.id in state.byId) put(state, user);
      },
      prepare: (user) => ({ payload: pickUser(user) }),
    },
    searchChanged(state, action) {
      state.query = String(action.payload ?? '');
    },
    sortChanged(state, action) {
      if (SORTS.includes(action.payload)) state.sort = action.payload;
    },
    layoutChanged(state, action) {
      if (LAYOUTS.includes(action.payload)) state.layout = action.payload;
    },
  },
  extraReducers: (builder) => {
    // A new session starts from nothing, in the layout the viewer likes.
    builder.addCase(sessionEnded, (state) => initialState(state.layout));
    // A window socket (windowSlice.js): there is no full list to keep, and
    // nobody's presence can be read from it; the view stays.
    builder.addCase(onlineWindow, (state) => {
      state.ids = [];
      state.byId = {};
      state.loaded = false;
      state.announcements = [];
    });
  },
});

export const {
  onlineUsers, userJoined, userLeft, userUpdated, searchChanged, sortChanged, layoutChanged,
} = onlineSlice.actions;
export default onlineSlice.reducer;

/** Switches between grid and compact list, and remembers it in this browser. */
export function chooseLayout(layout) {
  return (dispatch) => {
    if (!LAYOUTS.includes(layout)) return;
    try {
      storage()?.setItem(LAYOUT_KEY, layout);
    } catch {
      // private mode or full: the choice lasts this visit only
    }
    dispatch(layoutChanged(layout));
  };
}

const selectIds = (state) => state.online.ids;
const selectById = (state) => state.online.byId;
const selectViewerId = (state) => state.auth?.me?.id ?? null;
export const selectQuery = (state) => state.online.query;
export const selectSort = (state) => state.online.sort;
export const selectLayout = (state) => state.online.layout;
export const selectAnnouncements = (state) => state.online.announcements;

function viewerFirst(users, viewerId) {
  const viewer = users.findIndex((user) => user.id === viewerId);
  if (viewer > 0) users.unshift(users.splice(viewer, 1)[0]);
  return users;
}

// The viewer first, then everyone else in the order they arrived.
export const selectOnlineUsers = createSelector([selectIds, selectById, selectViewerId], (ids, byId, viewerId) =>
  viewerFirst(ids.map((id) => byId[id]), viewerId));

/**
 * The users the screen shows: those whose name contains the search (case
 * and accents aside), A–Z by the viewer's language or the most recently
 * joined first, the viewer always at the top.
 */
export const selectVisibleUsers = createSelector(
  [selectIds, selectById, selectViewerId, selectQuery, selectSort],
  (ids, byId, viewerId, query, sort) => {
    const needle = foldForSearch(query.trim());
    let users = ids.map((id) => byId[id]);
    if (needle !== '') users = users.filter((user) => foldForSearch(displayName(user)).includes(needle));
    if (sort === 'joined') {
      users.reverse();
    } else {
      const collator = new Intl.Collator(currentLanguage(), { sensitivity: 'base', numeric: true });
      users.sort((a, b) => collator.compare(displayName(a), displayName(b)) || a.id - b.id);
    }
    return viewerFirst(users, viewerId);
  },
);

export const selectOnlineLoaded = (state) => state.online.loaded;
// With a window socket, only the viewer is known to be online (their tab
// holds a socket); profiles ask the server for everybody else.
export const selectIsOnline = (state, id) => id in state.online.byId ||
  (state.window?.active === true && String(id) === String(state.auth?.me?.id));
export const selectOnlineUser = (state, id) => state.online.byId[id] ?? null;
export const selectLeftAt = (state, id) => state.online.leftAt[id] ?? null;
export const selectJoinedAt = (state, id) => state.online.joinedAt?.[id] ?? null;
