// The viewer's picture form, fed from the Redux store.
import { connect } from 'react-redux';
import AvatarForm from './AvatarForm.jsx';
import { removeAvatar, uploadAvatar } from './profileSlice.js';

const mapStateToProps = (state) => ({
  user: state.auth.me,
  status: state.profile.avatar.status,
  error: state.profile.avatar.error,
});

export default connect(mapStateToProps, { onUpload: uploadAvatar, onRemove: removeAvatar })(AvatarForm);
