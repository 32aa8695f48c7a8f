// The window of the online list this tab watches when the community is
// large (doc/protocol.md §8): which rows of the server's A–Z list it holds
// (offset, limit, query), how many match in all (total), the users of those
// rows, and which setWindow requests are still unanswered. Fed by the
// onlineWindow and windowChanged events; a windowChanged's ops are applied
// in order, and a frame that leaves the window at the wrong size (or an op
// out of range) marks the window broken: its rows are dropped rather than
// shown wrong, and the store asks the server for the window again
// (app/store.js).
import { createSlice } from '@reduxjs/toolkit';
import { sessionEnded } from '../auth/sessionActions.js';
import { pickUser } from '../common/user.js';
import { socketConnecting } from '../socket/connectionSlice.js';

// What a window asks for: the rows around the viewport.
export const WINDOW_LIMIT = 100;
export const WINDOW_BEFORE = 25;
// The server's limits (doc/protocol.md §8).
export const MAX_LIMIT = 200;
export const MAX_QUERY = 100;
// How close the viewport may come to an edge of the window (one that is
// not an end of the list) before the window moves.
export const WINDOW_MARGIN = 10;

const initialState = {
  // false until the first onlineWindow of a window socket.
  active: false,
  offset: 0,
  limit: 0,
  query: '',
  total: 0,
  users: [],
  // The total of the whole list (query ""), from the last frame that had it.
  everyone: null,
  // The total in the last onlineWindow: what a search found.
  answered: null,
  // setWindow requests sent and not yet answered, oldest first.
  inFlight: [],
  // The last window asked for (or, before any, the one the server gave).
  requested: null,
  // A frame did not fit: the rows are unknown until the next onlineWindow.
  broken: false,
  // How many times that happened (for tests and curiosity).
  resyncs: 0,
};

/** How many users a window must hold for `total` matches (§8). */
export function expectedSize({ offset, limit, total }) {
  return Math.min(limit, Math.max(0, total - offset));
}

function validUint(value, max = 2 ** 31 - 1) {
  return Number.isSafeInteger(value) && value >= 0 && value <= max;
}

function pickUsers(users) {
  return users.map(pickUser).map((user) => (user && !user.status ? { ...user, status: 'online' } : user));
}

/**
 * Applies `ops` to the rows `users` (a copy is changed); null when an op
 * is malformed or out of range.
 */
export function applyOps(users, ops) {
  if (!Array.isArray(ops)) return null;
  const rows = [...users];
  for (const op of ops) {
    if (op === null || typeof op !== 'object' || !Number.isSafeInteger(op.index) || op.index < 0) return null;
    if (op.op === 'insert') {
      const user = pickUsers([op.user])[0];
      if (!user || op.index > rows.length) return null;
      rows.splice(op.index, 0, user);
    } else if (op.op === 'remove') {
      if (op.index >= rows.length) return null;
      rows.splice(op.index, 1);
    } else if (op.op === 'update') {
      const user = pickUsers([op.user])[0];
      if (!user || op.index >= rows.length) return null;
      rows[op.index] = user;
    } else {
      return null;
    }
  }
  return rows;
}

const same = (a, b) => a !== null && b !== null && a.offset === b.offset && a.limit === b.limit && a.query === b.query;

/** A setWindow request the server accepts: clamped, the query trimmed and cut. */
export function windowRequest({ offset = 0, limit = WINDOW_LIMIT, query = '' } = {}) {
  return {
    offset: Math.max(0, Math.min(2 ** 31 - 1, Math.floor(Number(offset) || 0))),
    limit: Math.max(0, Math.min(MAX_LIMIT, Math.floor(Number(limit) || 0))),
    query: Array.from(String(query ?? '').trim()).slice(0, MAX_QUERY).join(''),
  };
}

/**
 * The window to ask for when rows `start`…`end` (inclusive) are on the
 * screen of a list of `total`: from WINDOW_BEFORE rows above, WINDOW_LIMIT
 * rows (more if the screen shows more), moved up near the end so that it
 * holds as many rows as it can.
 */
export function windowAround(start, end, total, query = '') {
  const visible = Math.max(0, end - start + 1);
  const limit = Math.min(MAX_LIMIT, Math.max(WINDOW_LIMIT, visible + 2 * WINDOW_BEFORE));
  let offset = Math.max(0, start - WINDOW_BEFORE);
  offset = Math.max(0, Math.min(offset, total - limit));
  return windowRequest({ offset, limit, query });
}

/**
 * Whether `window` ({offset, limit}) serves rows `start`…`end` of `total`,
 * with WINDOW_MARGIN rows to spare wherever the list goes on.
 */
export function windowCovers(window, start, end, total) {
  if (!window) return false;
  const first = window.offset;
  const last = window.offset + window.limit;   // exclusive
  const top = first === 0 ? 0 : first + WINDOW_MARGIN;
  const bottom = last >= total ? last : last - WINDOW_MARGIN;
  return start >= top && end < Math.max(bottom, top);
}

const windowSlice = createSlice({
  name: 'window',
  initialState,
  reducers: {
    // The first frame of a window socket, and the answer to each setWindow.
    onlineWindow: {
      reducer(state, action) {
        const data = action.payload;
        if (!data) return;
        const shown = { offset: data.offset, limit: data.limit, query: data.query };
        const searched = !state.active || data.query !== state.query;
        const answered = state.inFlight.findIndex((request) => same(request, shown));
        if (answered >= 0) state.inFlight.splice(0, answered + 1);
        state.active = true;
        Object.assign(state, shown);
        state.total = data.total;
        state.users = data.users;
        // What a search found, said once per search, not at every scroll.
        if (searched || state.answered === null) state.answered = data.total;
        if (data.query === '') state.everyone = data.total;
        if (state.requested === null) state.requested = shown;
        state.broken = false;
        // A snapshot of the wrong size cannot be trusted either.
        if (data.users.length !== expectedSize(data)) {
          state.users = [];
          state.broken = true;
          state.resyncs += 1;
        }
      },
      prepare(data) {
        const ok = data !== null && typeof data === 'object' && Array.isArray(data.users) &&
          validUint(data.offset) && validUint(data.limit, MAX_LIMIT) && validUint(data.total) &&
          typeof data.query === 'string';
        if (!ok) return { payload: null };
        const users = pickUsers(data.users);
        if (users.includes(null)) return { payload: null };
        return { payload: { offset: data.offset, limit: data.limit, query: data.query, total: data.total, users } };
      },
    },
    // Ops on the window we hold, and the new total.
    windowChanged: {
      reducer(state, action) {
        const { total, ops } = action.payload ?? {};
        if (!state.active || !validUint(total)) return;
        state.total = total;
        if (state.query === '') state.everyone = total;
        if (state.broken) return;   // waiting for a fresh onlineWindow
        const rows = applyOps(state.users, ops);
        if (rows !== null && rows.length === expectedSize(state)) {
          state.users = rows;
        } else {
          state.users = [];
          state.broken = true;
          state.resyncs += 1;
        }
      },
      prepare: (data) => ({ payload: data !== null && typeof data === 'object' ? { total: data.total, ops: data.ops } : null }),
    },
    // The viewer scrolled or searched: app/store.js sends the setWindow,
    // and windowSent says it went out.
    windowRequested: {
      reducer() {},
      prepare: (request) => ({ payload: windowRequest(request) }),
    },
    windowSent(state, action) {
      state.inFlight.push(action.payload);
      state.requested = action.payload;
    },
  },
  extraReducers: (builder) => {
    // A new socket answers nothing that the old one was asked.
    builder.addCase(socketConnecting, (state) => {
      state.inFlight = [];
      state.requested = null;
    });
    builder.addCase(sessionEnded, () => initialState);
    // A full-list socket (onlineSlice's onlineUsers, by its type to keep the
    // two modules apart): no window any more.
    builder.addMatcher((action) => action.type === 'online/onlineUsers', () => initialState);
  },
});

export const { onlineWindow, windowChanged, windowRequested, windowSent } = windowSlice.actions;
export default windowSlice.reducer;

export const selectWindow = (state) => state.window;
/** The window request to repeat after a frame did not fit. */
export const selectResync = (state) => {
  const { offset, limit, query } = state.window;
  return { offset, limit, query };
};
