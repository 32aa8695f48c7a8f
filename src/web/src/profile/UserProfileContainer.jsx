// /users/:id — a user's profile, with the online indicator from the store.
import { useEffect } from 'react';
import { connect } from 'react-redux';
import { Link, useParams } from 'react-router';
import ErrorMessage from '../common/ErrorMessage.jsx';
import { selectIsOnline, selectOnlineUser } from '../online/onlineSlice.js';
import { fetchUser, selectProfileEntry } from './profileSlice.js';
import ProfileView from './ProfileView.jsx';

function UserProfile({ id, entry, liveUser, online, isMe, onFetch }) {
  useEffect(() => {
    onFetch(id);
  }, [id, onFetch]);

  if (entry?.status === 'failed') {
    const missing = entry.error?.code === 'no-such-user';
    return (
      <section className="card" aria-labelledby="profile-missing">
        <h1 id="profile-missing" tabIndex={-1}>{missing ? 'No such user' : 'Cannot show this profile'}</h1>
        {missing ? <p>There is no user with this number.</p> : <ErrorMessage error={entry.error} />}
        <p><Link to="/online">Back to Online now</Link></p>
      </section>
    );
  }
  if (!entry?.user) {
    return <p className="loading" role="status">Loading the profile…</p>;
  }
  // The online list is the freshest source of name and picture.
  const user = liveUser ? { ...entry.user, ...liveUser } : entry.user;
  return <ProfileView user={user} online={online} isMe={isMe} />;
}

const mapStateToProps = (state, { id }) => ({
  entry: selectProfileEntry(state, id),
  liveUser: selectOnlineUser(state, id),
  online: selectIsOnline(state, id),
  isMe: String(state.auth.me?.id) === String(id),
});

const ConnectedUserProfile = connect(mapStateToProps, { onFetch: fetchUser })(UserProfile);

export default function UserPage() {
  const { id } = useParams();
  return <ConnectedUserProfile id={id} />;
}
