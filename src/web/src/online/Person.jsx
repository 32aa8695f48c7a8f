// One person on Online now: picture or initials with the status dot, the
// name once, a link to the profile. Shared by the full list (OnlineList)
// and the window (WindowList).
import { Link } from 'react-router';
import Avatar from '../common/Avatar.jsx';
import { displayName } from '../common/user.js';
import { _ } from '../i18n/index.js';

// The card's accessible name is its one visually hidden text, "Bob Marley,
// online": the face (whose initials would be read) and the shown name,
// "(you)" and "Idle" are hidden from assistive technology, which would
// read them as separate lines. No aria-label: one that does not contain the
// text shown (the initials) confuses speech input (WCAG 2.5.3, axe's
// label-content-name-mismatch).
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
      <Link className="person__link" to={`/users/${user.id}`}>
        <span className="person__face" aria-hidden="true">
          <Avatar user={user} decorative />
          <span className={`status-dot status-dot--${idle ? 'idle' : 'online'}`} />
        </span>
        <span className="person__text" aria-hidden="true">
          <span className="person__name">{displayName(user)}</span>
          {you && <span className="person__you">{_('(you)')}</span>}
          {idle && <span className="person__status">{_('Idle')}</span>}
        </span>
        <span className="visually-hidden">{cardLabel(user, you)}</span>
      </Link>
    </li>
  );
}

