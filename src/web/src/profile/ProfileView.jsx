// A user's profile card: picture, name, presence, bio.
import { Link } from 'react-router';
import Avatar from '../common/Avatar.jsx';
import { duration, timeAgo, useNow } from '../common/time.js';
import { displayName } from '../common/user.js';
import { _ } from '../i18n/index.js';

// "Online for 12 minutes" (when this tab saw the user join; "Online now"
// when it did not), "Online, but idle", "Last seen 3 hours ago" or "Not
// online", said again every minute. Not by colour alone: the dot's shape
// and the words differ.
export function Presence({ online, status, lastSeen, joinedAt = null }) {
  const seen = online ? null : Date.parse(lastSeen ?? '');
  const now = useNow(60 * 1000, Number.isFinite(seen) || (online && joinedAt !== null));
  let kind;
  let text;
  if (online) {
    const since = joinedAt !== null ? duration(now - joinedAt) : null;
    kind = status === 'idle' ? 'idle' : 'online';
    if (status === 'idle') {
      text = since ? _('Online for {duration}, but idle', { duration: since }) : _('Online, but idle');
    } else {
      text = since ? _('Online for {duration}', { duration: since }) : _('Online now');
    }
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
export default function ProfileView({ user, online, status = 'online', joinedAt = null, isMe, headingLevel = 1 }) {
  const Heading = `h${headingLevel}`;
  return (
    <article className="card profile" aria-labelledby="profile-name">
      <Avatar user={user} size="large" decorative />
      <div className="profile__text">
        <Heading id="profile-name" className="profile__name" tabIndex={-1}>
          {displayName(user)}
          {isMe && <span className="person__you"> {_('(you)')}</span>}
        </Heading>
        <Presence online={online} status={status} lastSeen={user.lastSeen} joinedAt={joinedAt} />
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
