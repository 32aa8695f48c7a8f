// Online now for a big community (doc/protocol.md §8): the whole list as
// one tall column of `total` rows, of which only those near the screen
// exist (@tanstack/react-virtual, scrolled by the page itself). The rows
// come from the window the socket watches; as the viewer scrolls, the
// window follows (setWindow, debounced), and rows it does not hold yet are
// grey placeholders. A search asks the server for a window of the matches.
import { useWindowVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { _ } from '../i18n/index.js';
import Person from './Person.jsx';
import { windowAround, windowCovers, windowRequest, WINDOW_LIMIT } from './windowSlice.js';

// Every row is this high (app/styles.css: .online__window > li).
export const ROW_HEIGHT = 56;
// How long the viewport rests before the window follows it.
export const SCROLL_DEBOUNCE_MS = 100;
// How long the search box rests before the server is asked.
export const SEARCH_DEBOUNCE_MS = 250;
const OVERSCAN = 8;

function Placeholder({ style }) {
  return (
    <li className="person person--placeholder" aria-hidden="true" style={style}>
      <span className="person__link">
        <span className="placeholder__face" />
        <span className="placeholder__name" />
      </span>
    </li>
  );
}

/**
 * The window's rows. `window` is the store's window (windowSlice.js),
 * `search` the text in the search box, `onWindow` asks for a window.
 */
export default function WindowList({ window: win, search = '', viewerId, stale = false, busy = false, onWindow }) {
  const listRef = useRef(null);
  // Where the list starts on the page: the virtualizer's scroll margin.
  const [margin, setMargin] = useState(0);
  useLayoutEffect(() => {
    const list = listRef.current;
    if (!list) return;
    const top = Math.round(list.getBoundingClientRect().top + globalThis.scrollY);
    if (top !== margin) setMargin(top);
  });

  const total = win.total;
  const virtualizer = useWindowVirtualizer({
    count: total,
    estimateSize: () => ROW_HEIGHT,
    overscan: OVERSCAN,
    scrollMargin: margin,
  });
  const items = virtualizer.getVirtualItems();
  const start = virtualizer.range?.startIndex ?? 0;
  const end = virtualizer.range?.endIndex ?? Math.min(total, 1) - 1;
  const requested = win.requested;

  // The window follows the viewport, once it rests.
  useEffect(() => {
    if (!requested || total === 0 || windowCovers(requested, start, end, total)) return undefined;
    const timer = setTimeout(() => onWindow(windowAround(start, end, total, requested.query)), SCROLL_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [start, end, total, requested, onWindow]);

  // A new search: the first rows of its matches.
  const wanted = windowRequest({ query: search }).query;
  useEffect(() => {
    if (!requested || wanted === requested.query) return undefined;
    const timer = setTimeout(() => onWindow({ offset: 0, limit: WINDOW_LIMIT, query: wanted }), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [wanted, requested, onWindow]);

  const rows = items.map((item) => {
    // CSSOM (React sets style properties, not the attribute): the CSP allows it.
    const style = { transform: `translateY(${item.start - margin}px)` };
    const user = win.broken ? null : win.users[item.index - win.offset];
    if (!user || item.index < win.offset) return <Placeholder key={`row-${item.index}`} style={style} />;
    return (
      <Person key={`user-${user.id}`} user={user} you={user.id === viewerId} style={style}
        position={item.index + 1} setSize={total} />
    );
  });

  return (
    <ul
      ref={listRef}
      className={`online__window${stale ? ' online__window--stale' : ''}`}
      style={{ height: `${virtualizer.getTotalSize()}px` }}
      aria-busy={busy}
      aria-label={_('People online now')}
      data-testid="online-list"
      data-mode="window"
      data-offset={win.offset}
      data-total={total}
    >
      {rows}
    </ul>
  );
}
