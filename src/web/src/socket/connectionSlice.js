// The state of this tab's WebSocket, for the "reconnecting…" banner.
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
    },
    socketRetrying(state, action) {
      state.status = 'reconnecting';
      state.attempt = action.payload.attempt;
      state.retryAt = action.payload.retryAt;
    },
    socketDisconnected(state) {
      state.status = 'disconnected';
      state.retryAt = null;
    },
    socketIdle() {
      return initialState;
    },
  },
  extraReducers: (builder) => {
    builder.addCase(sessionEnded, () => initialState);
  },
});

export const { socketConnecting, socketLive, socketRetrying, socketDisconnected, socketIdle } = connectionSlice.actions;
export default connectionSlice.reducer;

export const selectConnection = (state) => state.connection;
