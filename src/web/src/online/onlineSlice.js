// Who is online right now: the list the Online now screen shows, kept
// current by the socket module from the server's events (doc/protocol.md §3).
// Keyed by user id, so a user is in it once however many tabs they have.
import { createSelector, createSlice } from '@reduxjs/toolkit';
import { sessionEnded } from '../auth/sessionActions.js';
import { pickUser } from '../common/user.js';

const initialState = {
  ids: [],      // in the order users arrived
  byId: {},
  // false until the first onlineUsers snapshot of this session.
  loaded: false,
};

function put(state, user) {
  if (!(user.id in state.byId)) state.ids.push(user.id);
  state.byId[user.id] = user;
}

const onlineSlice = createSlice({
  name: 'online',
  initialState,
  reducers: {
    // The first frame on every socket: the whole list, which replaces ours.
    onlineUsers: {
      reducer(state, action) {
        state.ids = [];
        state.byId = {};
        for (const user of action.payload) put(state, user);
        state.loaded = true;
      },
      prepare(users) {
        return { payload: (Array.isArray(users) ? users : []).map(pickUser).filter(Boolean) };
      },
    },
    userJoined: {
      reducer(state, action) {
        if (action.payload) put(state, action.payload);
      },
      prepare: (user) => ({ payload: pickUser(user) }),
    },
    userLeft: {
      reducer(state, action) {
        const id = action.payload?.id;
        if (!(id in state.byId)) return;
        delete state.byId[id];
        state.ids = state.ids.filter((other) => other !== id);
      },
      prepare: (data) => ({ payload: { id: data?.id } }),
    },
    // Name or picture changed; the position in the grid stays.
    userUpdated: {
      reducer(state, action) {
        const user = action.payload;
        if (user && user.id in state.byId) state.byId[user.id] = user;
      },
      prepare: (user) => ({ payload: pickUser(user) }),
    },
  },
  extraReducers: (builder) => {
    builder.addCase(sessionEnded, () => initialState);
  },
});

export const { onlineUsers, userJoined, userLeft, userUpdated } = onlineSlice.actions;
export default onlineSlice.reducer;

const selectIds = (state) => state.online.ids;
const selectById = (state) => state.online.byId;
const selectViewerId = (state) => state.auth?.me?.id ?? null;

// The viewer first, then everyone else in the order they arrived.
export const selectOnlineUsers = createSelector([selectIds, selectById, selectViewerId], (ids, byId, viewerId) => {
  const users = ids.map((id) => byId[id]);
  const viewer = users.findIndex((user) => user.id === viewerId);
  if (viewer > 0) users.unshift(users.splice(viewer, 1)[0]);
  return users;
});

export const selectOnlineLoaded = (state) => state.online.loaded;
export const selectIsOnline = (state, id) => id in state.online.byId;
export const selectOnlineUser = (state, id) => state.online.byId[id] ?? null;
