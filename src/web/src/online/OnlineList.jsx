import { Link } from 'react-router';
import Avatar from '../common/Avatar.jsx';
import { displayName } from '../common/user.js';

/**
 * The Online now grid. Presentational: it shows the `users` it is given
 * (see OnlineListContainer for where they come from), the viewer marked.
 */
export default function OnlineList({ users, viewerId, loaded, stale }) {
  const count = users.length;
  return (
    <section className="online" aria-labelledby="online-heading">
      <h1 id="online-heading" tabIndex={-1}>
        Online now <span className="online__count" data-testid="online-count">{loaded ? count : '…'}</span>
      </h1>
      <p className="online__summary">
        {!loaded
          ? 'Finding out who is here…'
          : count === 1
            ? 'Only you are here right now.'
            : `${count} people are here right now.`}
      </p>
      <ul
        className={`online__grid${stale ? ' online__grid--stale' : ''}`}
        aria-live="polite"
        aria-busy={!loaded || stale}
        aria-label="People online now"
        data-testid="online-list"
      >
        {users.map((user) => {
          const you = user.id === viewerId;
          return (
            <li key={user.id} className={`person${you ? ' person--you' : ''}`} data-user-id={user.id}>
              <Link className="person__link" to={`/users/${user.id}`}>
                <Avatar user={user} />
                <span className="person__name">{displayName(user)}</span>
                {you && <span className="person__you"> (you)</span>}
              </Link>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
