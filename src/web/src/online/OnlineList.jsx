// The Online now screen: the people online, a search, an order, grid or
// compact list, and how fresh the list is. For a big community the list is
// a window of the server's (WindowList.jsx): A–Z only, searched by the
// server, rows only.
import { useRef } from 'react';
import { Link } from 'react-router';
import { timeAgo, useNow } from '../common/time.js';
import { displayName } from '../common/user.js';
import { _, currentLanguage, ngettext } from '../i18n/index.js';
import Person from './Person.jsx';
import useListMotion from './useListMotion.js';
import WindowList from './WindowList.jsx';

/** 1234 as "1,234" (or "1.234" in German). */
export function formatCount(n) {
  return new Intl.NumberFormat(currentLanguage()).format(n);
}

// One line under the heading: how many are here, or how old the list is;
// and one for what a search found (`shown` of `query`, null: no search).
function Summary({ loaded, count, shown, query, connection, now }) {
  let text;
  if (!loaded) {
    text = _('Finding out who is here…');
  } else if (connection.status === 'disconnected' || connection.status === 'reconnecting') {
    // Not live: say how old the list is, not who is here "right now".
    text = connection.staleSince
      ? _('Last updated {ago}.', { ago: timeAgo(connection.staleSince, now) })
      : _('This list may be out of date.');
  } else if (count === 1) {
    text = _('Only you are here right now.');
  } else {
    text = ngettext('{n} person is here right now.', '{n} people are here right now.', count, { n: formatCount(count) });
  }
  let matches = null;
  if (loaded && query !== '' && shown !== null) {
    matches = shown === 0
      ? _('Nobody online matches “{query}”.', { query })
      : ngettext('{n} person matches “{query}”.', '{n} people match “{query}”.', shown, { query, n: formatCount(shown) });
  }
  return (
    <>
      <p className="online__summary" data-testid="online-summary">{text}</p>
      {/* Announced, so that a search says what it found. */}
      <p className="online__matches" role="status" data-testid="online-matches">{matches}</p>
    </>
  );
}

function Announcer({ announcements }) {
  return (
    <div className="visually-hidden" aria-live="polite" data-testid="online-announcer">
      {announcements.map((item) => (
        <p key={item.seq}>
          {item.kind === 'joined' ? _('{name} joined', { name: item.name }) : _('{name} left', { name: item.name })}
        </p>
      ))}
    </div>
  );
}

function Tools({ query, sort, layout, windowed, onSearch, onSort, onLayout }) {
  return (
    <div className="online__tools">
      <div className="online__tool online__tool--search">
        <label htmlFor="online-search">{_('Search by name')}</label>
        <input id="online-search" type="search" value={query} autoComplete="off" spellCheck={false}
          onChange={(event) => onSearch(event.target.value)} />
      </div>
      <div className="online__tool">
        <label htmlFor="online-sort">{_('Order')}</label>
        <select id="online-sort" value={windowed ? 'name' : sort} onChange={(event) => onSort(event.target.value)}
          aria-describedby={windowed ? 'online-order-note' : undefined}>
          <option value="name">{_('A–Z')}</option>
          <option value="joined" disabled={windowed}>{_('Recently joined')}</option>
        </select>
      </div>
      {/* The window is a list of rows: no grid to switch from. */}
      {!windowed && (
        <button type="button" className="button online__layout" aria-pressed={layout === 'compact'}
          onClick={() => onLayout(layout === 'compact' ? 'grid' : 'compact')}>
          {_('Compact list')}
        </button>
      )}
      {windowed && (
        <p id="online-order-note" className="online__note" data-testid="online-order-note">
          {_('With this many people online, the list is in A–Z order, and the search looks for the name as you type it.')}
        </p>
      )}
    </div>
  );
}

/**
 * The Online now screen. Presentational: it shows the `users` it is given
 * (already searched and sorted, see OnlineListContainer) out of `count`
 * online, the viewer marked; or, when `windowed` (the store's window,
 * windowSlice.js) is given, that window of the server's list.
 */
export default function OnlineList({
  users = [], count, viewerId, loaded, connection = { status: 'open', staleSince: null }, query = '', sort = 'name',
  layout = 'grid', announcements = [], windowed = null, onSearch = () => {}, onSort = () => {}, onLayout = () => {},
  onWindow = () => {},
}) {
  const listRef = useRef(null);
  const ghostsRef = useRef(null);
  useListMotion(listRef, ghostsRef, layout);
  const stale = loaded && (connection.status === 'reconnecting' || connection.status === 'disconnected');
  const now = useNow(1000, stale);
  // The count: the whole list's; while a window holds a search, the last
  // one known without it. What a search found: the server's total for it
  // when it answered, or the users shown.
  const shownCount = windowed ? (windowed.everyone ?? windowed.total) : count;
  const matchQuery = windowed ? windowed.query : query.trim();
  const matchCount = windowed ? windowed.answered : users.length;

  return (
    <section className="online" aria-labelledby="online-heading">
      <h1 id="online-heading" tabIndex={-1}>
        {_('Online now')}{' '}
        <span className="online__count" data-testid="online-count">{loaded ? formatCount(shownCount) : '…'}</span>
      </h1>
      <Summary loaded={loaded} count={shownCount} shown={matchCount} query={matchQuery} connection={connection}
        now={now} />
      <Tools query={query} sort={sort} layout={layout} windowed={windowed !== null} onSearch={onSearch} onSort={onSort}
        onLayout={onLayout} />
      {windowed && (
        <div className="online__stage">
          <WindowList window={windowed} search={query} viewerId={viewerId} stale={stale} busy={!loaded || stale}
            onWindow={onWindow} />
        </div>
      )}
      {!windowed && (
        <div className="online__stage">
          <ul
            ref={listRef}
            className={`online__grid online__grid--${layout}${stale ? ' online__grid--stale' : ''}`}
            aria-busy={!loaded || stale}
            aria-label={_('People online now')}
            data-testid="online-list"
            data-layout={layout}
          >
            {users.map((user) => <Person key={user.id} user={user} you={user.id === viewerId} />)}
          </ul>
          <div className="online__ghosts" ref={ghostsRef} aria-hidden="true" />
        </div>
      )}
      <Announcer announcements={announcements} />
    </section>
  );
}
