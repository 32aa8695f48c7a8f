// The one module that owns this tab's WebSocket to /ws (doc/protocol.md §3).
//
// One socket per tab: start() does nothing while a socket is open or a retry
// is scheduled, and it is driven by Redux actions (see app/store.js), not by
// React effects, so StrictMode's double mount cannot open a second one.
// Listeners are attached once, when the socket is made, and every handler
// ignores events of a socket that is no longer the current one, so a late
// event from an old socket (hot reload, reconnect) changes nothing.
//
// The server's events become Redux actions: onlineUsers replaces the list,
// userJoined / userLeft / userUpdated change it. When the server goes away
// the socket comes back by itself, with exponential backoff and jitter, and
// the first frame of the new socket (onlineUsers) replaces the list again.
// After 4001 (logged out) and 4003 (disconnected by an administrator) it
// stays closed.
import { sessionEnded } from '../auth/sessionActions.js';
import { onlineUsers, userJoined, userLeft, userUpdated } from '../online/onlineSlice.js';
import {
  socketConnecting, socketDisconnected, socketIdle, socketLive, socketRetrying,
} from './connectionSlice.js';

export const CLOSE_LOGGED_OUT = 4001;
export const CLOSE_DISCONNECTED = 4003;

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 15000;

/**
 * How long to wait before try number `attempt` (0-based) after a loss:
 * exponential, capped, with "equal jitter" — between half and all of the
 * exponential delay — so that a server restart is not met by every tab at
 * the same instant.
 */
export function backoffDelay(attempt, random = Math.random, base = BACKOFF_BASE_MS, max = BACKOFF_MAX_MS) {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function socketUrl(location = globalThis.location) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

// Whether the session still holds after a socket could not even open (the
// browser hides the handshake's 401): false only for a definite 401.
async function defaultCheckSession() {
  try {
    const response = await fetch('/api/me', { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    return response.status !== 401;
  } catch {
    return true;
  }
}

const HANDLERS = {
  onlineUsers: (data) => (Array.isArray(data) ? onlineUsers(data) : null),
  userJoined: (data) => userJoined(data),
  userLeft: (data) => userLeft(data),
  userUpdated: (data) => userUpdated(data),
};

/** Turns one text frame into an action, or null for anything else. */
export function frameToAction(text) {
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    return null;
  }
  if (frame === null || typeof frame !== 'object' || !Object.hasOwn(HANDLERS, frame.event)) return null;
  return HANDLERS[frame.event](frame.data);
}

export function createSocket({
  dispatch,
  url = () => socketUrl(),
  WebSocketImpl = globalThis.WebSocket,
  setTimer = (fn, ms) => setTimeout(fn, ms),
  clearTimer = (id) => clearTimeout(id),
  random = Math.random,
  now = () => Date.now(),
  checkSession = defaultCheckSession,
} = {}) {
  let wanted = false;      // a session is active and we want a socket
  let current = null;      // the socket we listen to
  let timer = null;        // the scheduled retry
  let attempt = 0;         // tries since the list was last live
  const wired = new WeakSet();

  function clearRetry() {
    if (timer !== null) {
      clearTimer(timer);
      timer = null;
    }
  }

  function scheduleRetry() {
    const delay = backoffDelay(attempt, random);
    attempt += 1;
    dispatch(socketRetrying({ attempt, retryAt: now() + delay }));
    timer = setTimer(() => {
      timer = null;
      if (wanted && current === null) connect();
    }, delay);
  }

  function connect() {
    clearRetry();
    const ws = new WebSocketImpl(typeof url === 'function' ? url() : url);
    current = ws;
    dispatch(socketConnecting({ attempt }));
    attach(ws);
  }

  function attach(ws) {
    if (wired.has(ws)) return;
    wired.add(ws);
    let live = false;

    ws.addEventListener('message', (event) => {
      if (ws !== current || typeof event.data !== 'string') return;
      const action = frameToAction(event.data);
      if (action === null) return;
      dispatch(action);
      if (!live && action.type === onlineUsers.type) {
        live = true;
        attempt = 0;
        dispatch(socketLive());
      }
    });

    ws.addEventListener('close', (event) => {
      if (ws !== current) return;
      current = null;
      if (!wanted) return;

      if (event.code === CLOSE_LOGGED_OUT) {
        wanted = false;
        dispatch(sessionEnded());
        return;
      }
      if (event.code === CLOSE_DISCONNECTED) {
        wanted = false;
        dispatch(socketDisconnected());
        return;
      }
      if (!live) {
        // Never got going: maybe the session expired (401 before the upgrade).
        checkSession().then((valid) => {
          if (!wanted || current !== null || timer !== null) return;
          if (valid) {
            scheduleRetry();
          } else {
            wanted = false;
            dispatch(sessionEnded());
          }
        });
        return;
      }
      scheduleRetry();
    });
    // An 'error' event is always followed by 'close'; nothing to do here.
  }

  return {
    /** Opens the socket unless there is one already (or a retry pending). */
    start() {
      if (wanted) return;
      wanted = true;
      attempt = 0;
      connect();
    },
    /** Closes the socket for good (logout) and cancels any retry. */
    stop() {
      wanted = false;
      clearRetry();
      const ws = current;
      current = null;
      attempt = 0;
      if (ws !== null && ws.readyState <= 1) ws.close(1000, 'bye');
      dispatch(socketIdle());
    },
    /** Tries again now instead of waiting (the banner's button, 4003). */
    reconnectNow() {
      if (current !== null) return;
      wanted = true;
      connect();
    },
    get socket() {
      return current;
    },
    get active() {
      return wanted;
    },
  };
}
