// A user's profile card: picture, name, presence, bio.
import { Link } from 'react-router';
import Avatar from '../common/Avatar.jsx';
import { timeAgo, useNow } from '../common/time.js';
import { displayName } from '../common/user.js';
import { _ } from '../i18n/index.js';

// "Online now", "Idle", "Last seen 3 hours ago" or "Not online", said again
// every minute. Not by colour alone: the dot's shape and the words differ.
function Presence({ online, status, lastSeen }) {
  const seen = online ? null : Date.parse(lastSeen ?? '');
  const now = useNow(60 * 1000, Number.isFinite(seen));
  let kind;
  let text;
  if (online) {
    kind = status === 'idle' ? 'idle' : 'online';
    text = status === 'idle' ? _('Online, but idle') : _('Online now');
  } else if (Number.isFinite(seen)) {
    kind = 'offline';
    text = now - seen < 60 * 1000
      ? _('Last seen just now')
      : _('Last seen {ago}', { ago: timeAgo(seen, now, { smallest: 'minute' }) });
  } else {
    kind = 'offline';
    text = _('Not online');
  }
  return (
    <p className={`presence presence--${kind}`} data-testid="presence" data-presence={kind}>
      <span className={`status-dot status-dot--${kind}`} aria-hidden="true" />
      {seen ? <time dateTime={new Date(seen).toISOString()}>{text}</time> : text}
    </p>
  );
}

/**
 * A user's profile: picture, name, presence, bio. Presentational. `online`
 * and `status` come from the live list; `user.lastSeen` from the API.
 */
export default function ProfileView({ user, online, status = 'online', isMe, headingLevel = 1 }) {
  const Heading = `h${headingLevel}`;
  return (
    <article className="card profile" aria-labelledby="profile-name">
      <Avatar user={user} size="large" decorative />
      <div className="profile__text">
        <Heading id="profile-name" className="profile__name" tabIndex={-1}>
          {displayName(user)}
          {isMe && <span className="person__you"> {_('(you)')}</span>}
        </Heading>
        <Presence online={online} status={status} lastSeen={user.lastSeen} />
        {user.bio ? (
          <p className="profile__bio">{user.bio}</p>
        ) : (
          <p className="profile__bio profile__bio--empty">{isMe ? _('You have not written a bio yet.') : _('No bio yet.')}</p>
        )}
        {isMe && headingLevel === 1 && (
          <p>
            <Link to="/profile">{_('Edit your profile')}</Link>
          </p>
        )}
      </div>
    </article>
  );
}
