// The state of this tab's WebSocket, for the banner and the Online now
// count: whether the list is live, since when it is not, and the status
// (online or idle) this tab last told the server.
import { createSlice } from '@reduxjs/toolkit';
import { sessionEnded } from '../auth/sessionActions.js';

const initialState = {
  // 'idle'          no session, no socket
  // 'connecting'    the first socket of the session is opening
  // 'open'          the list is live (the onlineUsers snapshot has come)
  // 'reconnecting'  the socket went away; another try is scheduled or under way
  // 'disconnected'  an administrator disconnected us (4003); no automatic retry
  status: 'idle',
  attempt: 0,
  retryAt: null,   // ms since the epoch of the next try, while waiting
  // ms since the epoch when the list stopped being live (the live socket
  // closed), while it is not live again; null while live or never live.
  staleSince: null,
  // What this tab says of the viewer: 'online', or 'idle' after a while
  // without input or while hidden (doc/protocol.md §3, setStatus).
  presence: 'online',
};

const connectionSlice = createSlice({
  name: 'connection',
  initialState,
  reducers: {
    socketConnecting(state, action) {
      const attempt = action.payload?.attempt ?? 0;
      state.status = attempt > 0 || state.status === 'reconnecting' ? 'reconnecting' : 'connecting';
      state.attempt = attempt;
      state.retryAt = null;
    },
    socketLive(state) {
      state.status = 'open';
      state.attempt = 0;
      state.retryAt = null;
      state.staleSince = null;
    },
    socketRetrying(state, action) {
      state.status = 'reconnecting';
      state.attempt = action.payload.attempt;
      state.retryAt = action.payload.retryAt;
      state.staleSince ??= action.payload.staleSince ?? null;
    },
    socketDisconnected(state, action) {
      state.status = 'disconnected';
      state.retryAt = null;
      state.staleSince ??= action.payload?.staleSince ?? null;
    },
    socketIdle() {
      return initialState;
    },
    presenceChanged(state, action) {
      if (action.payload === 'online' || action.payload === 'idle') state.presence = action.payload;
    },
  },
  extraReducers: (builder) => {
    builder.addCase(sessionEnded, () => initialState);
  },
});

export const {
  socketConnecting, socketLive, socketRetrying, socketDisconnected, socketIdle, presenceChanged,
} = connectionSlice.actions;
export default connectionSlice.reducer;

export const selectConnection = (state) => state.connection;
