// /profile — the viewer's own profile, and the forms to change it.
import { useEffect } from 'react';
import { connect } from 'react-redux';
import { _ } from '../i18n/index.js';
import { selectIsOnline } from '../online/onlineSlice.js';
import AvatarFormContainer from './AvatarFormContainer.jsx';
import EditProfileForm from './EditProfileForm.jsx';
import { resetEditStatus, saveProfile, uploadAvatar } from './profileSlice.js';
import ProfileView from './ProfileView.jsx';

function MyProfilePage({ me, online, save, avatar, onSave, onUpload, onMount }) {
  useEffect(() => {
    onMount();
  }, [onMount]);
  return (
    <div className="my-profile">
      <h1 className="page-title" tabIndex={-1}>{_('Your profile')}</h1>
      <ProfileView user={me} online={online} isMe headingLevel={2} />
      <AvatarFormContainer />
      <EditProfileForm key={me.id} me={me} status={save.status} error={save.error} onSave={onSave} />
    </div>
  );
}

const mapStateToProps = (state) => ({
  me: state.auth.me,
  online: selectIsOnline(state, state.auth.me.id),
  save: state.profile.save,
  avatar: state.profile.avatar,
});

export default connect(mapStateToProps, {
  onSave: saveProfile,
  onUpload: uploadAvatar,
  onMount: resetEditStatus,
})(MyProfilePage);
