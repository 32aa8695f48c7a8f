// /users/:id — a user's profile, with the live presence from the store.
import { useEffect, useRef } from 'react';
import { connect } from 'react-redux';
import { Link, useParams } from 'react-router';
import ErrorMessage from '../common/ErrorMessage.jsx';
import { _ } from '../i18n/index.js';
import {
  selectIsOnline, selectJoinedAt, selectLeftAt, selectOnlineLoaded, selectOnlineUser,
} from '../online/onlineSlice.js';
import { fetchUser, selectProfileEntry } from './profileSlice.js';
import ProfileView from './ProfileView.jsx';

function UserProfile({ id, entry, liveUser, online, leftAt, joinedAt, isMe, onFetch }) {
  useEffect(() => {
    onFetch(id);
  }, [id, onFetch]);

  // When the user leaves while we look, ask again: the answer has the time
  // they were last seen.
  const wasOnline = useRef(online);
  useEffect(() => {
    if (wasOnline.current && !online) onFetch(id);
    wasOnline.current = online;
  }, [online, id, onFetch]);

  if (entry?.status === 'failed') {
    const missing = entry.error?.code === 'no-such-user';
    return (
      <section className="card" aria-labelledby="profile-missing">
        <h1 id="profile-missing" tabIndex={-1}>{missing ? _('No such user') : _('Cannot show this profile')}</h1>
        {missing ? <p>{_('There is no user with this number.')}</p> : <ErrorMessage error={entry.error} />}
        <p><Link to="/online">{_('Back to Online now')}</Link></p>
      </section>
    );
  }
  if (!entry?.user) {
    return <p className="loading" role="status">{_('Loading the profile…')}</p>;
  }
  // The online list is the freshest source of name, picture and status.
  let user = liveUser ? { ...entry.user, ...liveUser } : entry.user;
  if (!online && !user.lastSeen && leftAt) user = { ...user, lastSeen: new Date(leftAt).toISOString() };
  return <ProfileView user={user} online={online} status={liveUser?.status} joinedAt={joinedAt} isMe={isMe} />;
}

// Until the live list has come, the profile's own `online` says it.
const mapStateToProps = (state, { id }) => ({
  entry: selectProfileEntry(state, id),
  liveUser: selectOnlineUser(state, id),
  online: selectOnlineLoaded(state)
    ? selectIsOnline(state, id)
    : selectProfileEntry(state, id)?.user?.online === true,
  leftAt: selectLeftAt(state, id),
  joinedAt: selectJoinedAt(state, id),
  isMe: String(state.auth.me?.id) === String(id),
});

const ConnectedUserProfile = connect(mapStateToProps, { onFetch: fetchUser })(UserProfile);

export default function UserPage() {
  const { id } = useParams();
  return <ConnectedUserProfile id={id} />;
}
