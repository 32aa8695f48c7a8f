// The Redux store: one slice per concern, and the tab's socket, opened when
// a session starts and closed when it ends.
import { combineReducers, configureStore, createListenerMiddleware, isAnyOf } from '@reduxjs/toolkit';
import authReducer, { checkSession, login, register } from '../auth/authSlice.js';
import { sessionEnded } from '../auth/sessionActions.js';
import onlineReducer, { onlineUsers, userJoined } from '../online/onlineSlice.js';
import windowReducer, {
  onlineWindow, selectResync, windowChanged, windowRequested, windowSent,
} from '../online/windowSlice.js';
import profileReducer from '../profile/profileSlice.js';
import connectionReducer from '../socket/connectionSlice.js';
import { createSocket } from '../socket/socket.js';
import { chooseView } from '../socket/view.js';

export const rootReducer = combineReducers({
  auth: authReducer,
  online: onlineReducer,
  window: windowReducer,
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

  // A big community gets a window socket, a small one the full list
  // (socket/view.js).
  listener.startListening({
    matcher: isAnyOf(onlineUsers, userJoined, onlineWindow, windowChanged),
    effect: (action, api) => {
      const { online, window } = api.getState();
      socket.setView(chooseView(socket.view, {
        forced: socket.forced,
        onlineCount: online.loaded ? online.ids.length : null,
        everyone: window.active && window.query === '' ? window.total : null,
      }));
    },
  });
  // The viewer scrolled or searched: move the window.
  listener.startListening({
    actionCreator: windowRequested,
    effect: (action, api) => {
      if (socket.setWindow(action.payload)) api.dispatch(windowSent(action.payload));
    },
  });
  // A frame did not fit the window we hold: ask for it again, unless an
  // answer is on its way anyway.
  listener.startListening({
    predicate: (action, state, before) => isAnyOf(onlineWindow, windowChanged)(action) && state.window.broken &&
      !before.window.broken && state.window.inFlight.length === 0,
    effect: (action, api) => {
      api.dispatch(windowRequested(selectResync(api.getState())));
    },
  });

  return { store, socket };
}
