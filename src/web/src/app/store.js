// The Redux store: one slice per concern, and the tab's socket, opened when
// a session starts and closed when it ends.
import { combineReducers, configureStore, createListenerMiddleware, isAnyOf } from '@reduxjs/toolkit';
import authReducer, { checkSession, login, register } from '../auth/authSlice.js';
import { sessionEnded } from '../auth/sessionActions.js';
import onlineReducer from '../online/onlineSlice.js';
import profileReducer from '../profile/profileSlice.js';
import connectionReducer from '../socket/connectionSlice.js';
import { createSocket } from '../socket/socket.js';

export const rootReducer = combineReducers({
  auth: authReducer,
  online: onlineReducer,
  profile: profileReducer,
  connection: connectionReducer,
});

/**
 * Makes a store and the socket that feeds it. `socketOptions` go to
 * createSocket (tests pass a fake WebSocket).
 */
export function makeStore({ preloadedState, socketOptions } = {}) {
  const listener = createListenerMiddleware();
  const store = configureStore({
    reducer: rootReducer,
    preloadedState,
    middleware: (getDefault) => getDefault().prepend(listener.middleware),
  });
  const socket = createSocket({ dispatch: store.dispatch, ...socketOptions });

  listener.startListening({
    matcher: isAnyOf(checkSession.fulfilled, login.fulfilled, register.fulfilled),
    effect: () => socket.start(),
  });
  listener.startListening({
    actionCreator: sessionEnded,
    effect: () => socket.stop(),
  });

  return { store, socket };
}
