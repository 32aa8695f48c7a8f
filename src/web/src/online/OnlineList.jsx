// The Online now screen: the people online, a search, an order, grid or
// compact list, and how fresh the list is.
import { useRef } from 'react';
import { Link } from 'react-router';
import Avatar from '../common/Avatar.jsx';
import { timeAgo, useNow } from '../common/time.js';
import { displayName } from '../common/user.js';
import { _, ngettext } from '../i18n/index.js';
import useListMotion from './useListMotion.js';

function cardLabel(user, you) {
  const name = displayName(user);
  if (user.status === 'idle') return you ? _('{name} (you), idle', { name }) : _('{name}, idle', { name });
  return you ? _('{name} (you), online', { name }) : _('{name}, online', { name });
}

function Person({ user, you }) {
  const idle = user.status === 'idle';
  return (
    <li className={`person${you ? ' person--you' : ''}${idle ? ' person--idle' : ''}`} data-user-id={user.id}
      data-status={user.status}>
      <Link className="person__link" to={`/users/${user.id}`} aria-label={cardLabel(user, you)}>
        <span className="person__face">
          <Avatar user={user} decorative />
          <span className={`status-dot status-dot--${idle ? 'idle' : 'online'}`} />
        </span>
        <span className="person__text">
          <span className="person__name">{displayName(user)}</span>
          {you && <span className="person__you">{_('(you)')}</span>}
          {idle && <span className="person__status">{_('Idle')}</span>}
        </span>
      </Link>
    </li>
  );
}

// One line under the heading: how many are here, or how old the list is.
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
    text = ngettext('{n} person is here right now.', '{n} people are here right now.', count);
  }
  let matches = null;
  if (loaded && query.trim() !== '') {
    matches = shown === 0
      ? _('Nobody online matches “{query}”.', { query: query.trim() })
      : ngettext('{n} person matches “{query}”.', '{n} people match “{query}”.', shown, { query: query.trim() });
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

function Tools({ query, sort, layout, onSearch, onSort, onLayout }) {
  return (
    <div className="online__tools">
      <div className="online__tool online__tool--search">
        <label htmlFor="online-search">{_('Search by name')}</label>
        <input id="online-search" type="search" value={query} autoComplete="off" spellCheck={false}
          onChange={(event) => onSearch(event.target.value)} />
      </div>
      <div className="online__tool">
        <label htmlFor="online-sort">{_('Order')}</label>
        <select id="online-sort" value={sort} onChange={(event) => onSort(event.target.value)}>
          <option value="name">{_('A–Z')}</option>
          <option value="joined">{_('Recently joined')}</option>
        </select>
      </div>
      <button type="button" className="button online__layout" aria-pressed={layout === 'compact'}
        onClick={() => onLayout(layout === 'compact' ? 'grid' : 'compact')}>
        {_('Compact list')}
      </button>
    </div>
  );
}

/**
 * The Online now screen. Presentational: it shows the `users` it is given
 * (already searched and sorted, see OnlineListContainer) out of `count`
 * online, the viewer marked.
 */
export default function OnlineList({
  users, count, viewerId, loaded, connection = { status: 'open', staleSince: null }, query = '', sort = 'name',
  layout = 'grid', announcements = [], onSearch = () => {}, onSort = () => {}, onLayout = () => {},
}) {
  const listRef = useRef(null);
  const ghostsRef = useRef(null);
  useListMotion(listRef, ghostsRef, layout);
  const stale = loaded && (connection.status === 'reconnecting' || connection.status === 'disconnected');
  const now = useNow(1000, stale);

  return (
    <section className="online" aria-labelledby="online-heading">
      <h1 id="online-heading" tabIndex={-1}>
        {_('Online now')} <span className="online__count" data-testid="online-count">{loaded ? count : '…'}</span>
      </h1>
      <Summary loaded={loaded} count={count} shown={users.length} query={query} connection={connection} now={now} />
      <Tools query={query} sort={sort} layout={layout} onSearch={onSearch} onSort={onSort} onLayout={onLayout} />
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
      <Announcer announcements={announcements} />
    </section>
  );
}
