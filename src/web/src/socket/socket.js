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
// userJoined / userLeft / userUpdated change it; on a window socket
// (doc/protocol.md §8, ./view.js) onlineWindow and windowChanged feed the
// window instead, and setWindow() moves it. setView() changes the kind of
// socket: the old one is closed, and the new one opened once it has gone,
// so that a tab never holds two. When the server goes away
// the socket comes back by itself, with exponential backoff and jitter, and
// at once when the browser says the network is back or the tab is looked at
// again; the first frame of the new socket (onlineUsers) replaces the list.
// After 4001 (logged out) and 4003 (disconnected by an administrator) it
// stays closed.
//
// It also tells the server whether the viewer is here: setStatus idle after
// IDLE_AFTER_MS without input or as soon as the tab is hidden, online again
// on input or when the tab is shown.
import { sessionEnded } from '../auth/sessionActions.js';
import { onlineUsers, userJoined, userLeft, userUpdated } from '../online/onlineSlice.js';
import { onlineWindow, windowChanged } from '../online/windowSlice.js';
import {
  presenceChanged, socketConnecting, socketDisconnected, socketIdle, socketLive, socketRetrying,
} from './connectionSlice.js';
import { forcedView, viewUrl } from './view.js';

export const CLOSE_LOGGED_OUT = 4001;
export const CLOSE_DISCONNECTED = 4003;

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 10000;

export const IDLE_AFTER_MS = 5 * 60 * 1000;
// localStorage key that shortens the idle timeout, for the browser tests
// (read when the page loads; see src/web/README.md).
export const IDLE_AFTER_KEY = 'munity.idleAfterMs';

// What counts as the viewer being here.
const INPUT_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart', 'scroll'];

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

/** The idle timeout: IDLE_AFTER_MS unless the page's storage sets another. */
export function idleAfterMs(storage = globalThis.localStorage) {
  try {
    const value = Number(storage?.getItem(IDLE_AFTER_KEY));
    return Number.isFinite(value) && value > 0 ? value : IDLE_AFTER_MS;
  } catch {
    return IDLE_AFTER_MS;
  }
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
  onlineWindow: (data) => {
    const action = onlineWindow(data);
    return action.payload ? action : null;
  },
  windowChanged: (data) => {
    const action = windowChanged(data);
    return action.payload ? action : null;
  },
};

// The first frame of each kind of socket: the list is live once it came.
const FIRST_FRAMES = [onlineUsers.type, onlineWindow.type];

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

/** The frame that moves or filters a window socket's window. */
export function windowFrame({ offset, limit, query }) {
  return JSON.stringify({ event: 'setWindow', data: { offset, limit, query } });
}

/** The frame that tells the server this tab's status. */
export function statusFrame(status) {
  return JSON.stringify({ event: 'setStatus', data: { status } });
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
  // Where input, focus, visibility and network events come from; the
  // browser's window and document, absent in tests that do not need them.
  win = globalThis.window ?? null,
  doc = globalThis.document ?? null,
  idleAfter = idleAfterMs(),
  // 'full' or 'window' for good (the test mode, ./view.js), or null.
  forced = forcedView(),
} = {}) {
  let wanted = false;      // a session is active and we want a socket
  let current = null;      // the socket we listen to
  let timer = null;        // the scheduled retry
  let attempt = 0;         // tries since the list was last live
  let waiting = false;     // after a loss: a retry is scheduled or being decided
  let presence = 'online'; // what we tell the server
  let lastInput = now();
  let idleTimer = null;
  let watching = false;    // the window and document listeners are attached
  let view = forced ?? 'full'; // the kind of socket to open
  let switching = null;    // the socket being closed to change the view
  let liveSocket = null;   // the current socket once its first frame came
  const wired = new WeakSet();

  function clearRetry() {
    if (timer !== null) {
      clearTimer(timer);
      timer = null;
    }
  }

  function scheduleRetry(staleSince) {
    const delay = backoffDelay(attempt, random);
    attempt += 1;
    waiting = true;
    dispatch(socketRetrying({ attempt, retryAt: now() + delay, staleSince }));
    timer = setTimer(() => {
      timer = null;
      if (wanted && current === null) connect();
    }, delay);
  }

  function connect() {
    clearRetry();
    waiting = false;
    const ws = new WebSocketImpl(viewUrl(typeof url === 'function' ? url() : url, view));
    current = ws;
    dispatch(socketConnecting({ attempt }));
    attach(ws);
  }

  function send(ws, text) {
    if (ws !== null && ws.readyState === 1) ws.send(text);
  }

  function attach(ws) {
    if (wired.has(ws)) return;
    wired.add(ws);
    let live = false;

    ws.addEventListener('message', (event) => {
      if (ws !== current || ws === switching || typeof event.data !== 'string') return;
      const action = frameToAction(event.data);
      if (action === null) return;
      dispatch(action);
      if (!live && FIRST_FRAMES.includes(action.type)) {
        live = true;
        liveSocket = ws;
        attempt = 0;
        dispatch(socketLive());
        // Every socket starts online on the server.
        if (presence === 'idle') send(ws, statusFrame('idle'));
      }
    });

    ws.addEventListener('close', (event) => {
      if (ws !== current) return;
      current = null;
      if (liveSocket === ws) liveSocket = null;
      if (ws === switching) {
        // Closed by setView(): the new kind of socket, at once.
        switching = null;
        if (wanted) connect();
        return;
      }
      if (!wanted) return;
      const staleSince = live ? now() : null;

      if (event.code === CLOSE_LOGGED_OUT) {
        wanted = false;
        dispatch(sessionEnded());
        return;
      }
      if (event.code === CLOSE_DISCONNECTED) {
        wanted = false;
        dispatch(socketDisconnected({ staleSince }));
        return;
      }
      if (!live) {
        // Never got going: maybe the session expired (401 before the upgrade).
        waiting = true;
        checkSession().then((valid) => {
          if (!wanted || current !== null || timer !== null || !waiting) return;
          if (valid) {
            scheduleRetry(null);
          } else {
            wanted = false;
            waiting = false;
            dispatch(sessionEnded());
          }
        });
        return;
      }
      scheduleRetry(staleSince);
    });
    // An 'error' event is always followed by 'close'; nothing to do here.
  }

  // ---- status: online or idle ----

  function setPresence(status) {
    if (status === presence) return;
    presence = status;
    dispatch(presenceChanged(status));
    send(current, statusFrame(status));
  }

  function armIdleTimer(delay = idleAfter) {
    if (idleTimer !== null) clearTimer(idleTimer);
    idleTimer = setTimer(() => {
      idleTimer = null;
      if (!wanted) return;
      const quiet = now() - lastInput;
      if (quiet >= idleAfter) setPresence('idle');
      else armIdleTimer(idleAfter - quiet);
    }, delay);
  }

  function hidden() {
    return doc?.visibilityState === 'hidden';
  }

  function onInput() {
    lastInput = now();
    if (!wanted || hidden()) return;
    if (presence === 'idle') {
      setPresence('online');
      armIdleTimer();
    }
  }

  // Back on the tab, or the network is back: no reason to wait any longer.
  function comeBack() {
    if (!wanted) return;
    if (waiting && current === null) connect();
  }

  function onVisibility() {
    if (!wanted) return;
    if (hidden()) {
      setPresence('idle');
    } else {
      onInput();
      comeBack();
    }
  }

  function watch() {
    if (watching) return;
    watching = true;
    for (const type of INPUT_EVENTS) win?.addEventListener(type, onInput, { passive: true, capture: true });
    win?.addEventListener('focus', onVisibility);
    win?.addEventListener('online', comeBack);
    doc?.addEventListener('visibilitychange', onVisibility);
  }

  function unwatch() {
    if (!watching) return;
    watching = false;
    for (const type of INPUT_EVENTS) win?.removeEventListener(type, onInput, { passive: true, capture: true });
    win?.removeEventListener('focus', onVisibility);
    win?.removeEventListener('online', comeBack);
    doc?.removeEventListener('visibilitychange', onVisibility);
  }

  return {
    /** Opens the socket unless there is one already (or a retry pending). */
    start() {
      if (wanted) return;
      wanted = true;
      attempt = 0;
      lastInput = now();
      presence = hidden() ? 'idle' : 'online';
      dispatch(presenceChanged(presence));
      watch();
      armIdleTimer();
      connect();
    },
    /** Closes the socket for good (logout) and cancels any retry. */
    stop() {
      wanted = false;
      waiting = false;
      clearRetry();
      if (idleTimer !== null) clearTimer(idleTimer);
      idleTimer = null;
      unwatch();
      const ws = current;
      current = null;
      liveSocket = null;
      switching = null;
      attempt = 0;
      if (ws !== null && ws.readyState <= 1) ws.close(1000, 'bye');
      dispatch(socketIdle());
    },
    /** Tries again now instead of waiting (the banner's button, 4003). */
    reconnectNow() {
      if (current !== null) return;
      wanted = true;
      watch();
      if (idleTimer === null) armIdleTimer();
      connect();
    },
    /**
     * Makes the socket a full-list ('full') or a window ('window') one: if
     * the one open is of the other kind, closes it and opens the new kind
     * when it has closed. Nothing while the test mode forces a view.
     */
    setView(next) {
      if (forced !== null || next === view || (next !== 'full' && next !== 'window')) return;
      view = next;
      if (current !== null && switching === null) {
        switching = current;
        if (current.readyState <= 1) current.close(1000, 'view');
      }
    },
    /** Sends setWindow on a live window socket; whether it went out. */
    setWindow(request) {
      if (view !== 'window' || liveSocket === null || liveSocket !== current || switching !== null) return false;
      if (liveSocket.readyState !== 1) return false;
      liveSocket.send(windowFrame(request));
      return true;
    },
    get view() {
      return view;
    },
    get forced() {
      return forced;
    },
    get socket() {
      return current;
    },
    get active() {
      return wanted;
    },
    get presence() {
      return presence;
    },
  };
}
