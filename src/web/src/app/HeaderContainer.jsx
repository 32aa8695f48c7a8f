import { connect } from 'react-redux';
import { logout } from '../auth/authSlice.js';
import Header from './Header.jsx';

const mapStateToProps = (state) => ({
  me: state.auth.status === 'logged-in' ? state.auth.me : null,
  busy: state.auth.busy,
});

export default connect(mapStateToProps, { onLogout: logout })(Header);
