// Which kind of socket this tab opens (doc/protocol.md §8): the full list
// ('full', plain /ws) while the community is small, a window of it
// ('window', /ws?view=window) when more than WINDOW_ABOVE people are
// online. A full-list socket whose list grows past WINDOW_ABOVE is closed
// and a window socket opened instead; a window socket whose total (of the
// whole list, no search) falls under FULL_BELOW goes back. The gap between
// the two keeps a community of about 500 from switching at every join.
//
// For tests, the localStorage key `munity.view`, read when the page loads,
// sets the kind for good: 'window' or 'full'.

export const WINDOW_ABOVE = 500;
export const FULL_BELOW = 400;
export const VIEWS = ['full', 'window'];
export const VIEW_KEY = 'munity.view';

/** The view the page's storage forces, or null to choose by size. */
export function forcedView(storage = globalThis.localStorage) {
  try {
    const value = storage?.getItem(VIEW_KEY);
    return VIEWS.includes(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The view a socket should have, given the one it has (`current`) and what
 * the store knows: `onlineCount`, the length of the full list (null when
 * there is none), and `everyone`, a window socket's total with no search
 * (null when unknown, e.g. while the window holds a search).
 */
export function chooseView(current, { forced = null, onlineCount = null, everyone = null } = {}) {
  if (forced !== null) return forced;
  if (current === 'full') return onlineCount !== null && onlineCount > WINDOW_ABOVE ? 'window' : 'full';
  return everyone !== null && everyone < FULL_BELOW ? 'full' : 'window';
}

/** The URL of the socket for `view`, from the URL of /ws. */
export function viewUrl(base, view) {
  return view === 'window' ? `${base}${base.includes('?') ? '&' : '?'}view=window` : base;
}
