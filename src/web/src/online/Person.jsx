// One person on Online now: picture or initials with the status dot, the
// name once, a link to the profile. Shared by the full list (OnlineList)
// and the window (WindowList).
import { Link } from 'react-router';
import Avatar from '../common/Avatar.jsx';
import { displayName } from '../common/user.js';
import { _ } from '../i18n/index.js';

function cardLabel(user, you) {
  const name = displayName(user);
  if (user.status === 'idle') return you ? _('{name} (you), idle', { name }) : _('{name}, idle', { name });
  return you ? _('{name} (you), online', { name }) : _('{name}, online', { name });
}

/**
 * A person's list item. `style` (the window's row position, set through
 * the CSSOM by React) and `position`/`setSize` (aria-posinset/setsize,
 * for a list of which only some rows exist) are for WindowList.
 */
export default function Person({ user, you, style, position, setSize }) {
  const idle = user.status === 'idle';
  return (
    <li className={`person${you ? ' person--you' : ''}${idle ? ' person--idle' : ''}`} data-user-id={user.id}
      data-status={user.status} style={style} aria-posinset={position} aria-setsize={setSize}>
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

