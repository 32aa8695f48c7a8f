import { Link } from 'react-router';
import Avatar from '../common/Avatar.jsx';
import { displayName } from '../common/user.js';

/** A user's profile: picture, name, online indicator, bio. Presentational. */
export default function ProfileView({ user, online, isMe, headingLevel = 1 }) {
  const Heading = `h${headingLevel}`;
  return (
    <article className="card profile" aria-labelledby="profile-name">
      <Avatar user={user} size="large" />
      <div className="profile__text">
        <Heading id="profile-name" className="profile__name" tabIndex={-1}>
          {displayName(user)}
          {isMe && <span className="person__you"> (you)</span>}
        </Heading>
        <p className={`presence presence--${online ? 'online' : 'offline'}`} data-testid="presence">
          <span className="presence__dot" aria-hidden="true" />
          {online ? 'Online now' : 'Not online'}
        </p>
        {user.bio ? (
          <p className="profile__bio">{user.bio}</p>
        ) : (
          <p className="profile__bio profile__bio--empty">{isMe ? 'You have not written a bio yet.' : 'No bio yet.'}</p>
        )}
        {isMe && headingLevel === 1 && (
          <p>
            <Link to="/profile">Edit your profile</Link>
          </p>
        )}
      </div>
    </article>
  );
}
