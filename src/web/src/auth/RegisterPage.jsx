// /register: the registration form, fed from the store.
import { useEffect } from 'react';
import { connect } from 'react-redux';
import { Navigate } from 'react-router';
import { clearAuthError, register } from './authSlice.js';
import RegisterForm from './RegisterForm.jsx';

function RegisterPage({ loggedIn, busy, error, onRegister, onMount }) {
  useEffect(() => {
    onMount();
  }, [onMount]);
  if (loggedIn) return <Navigate to="/online" replace />;
  return <RegisterForm busy={busy} error={error} onSubmit={onRegister} />;
}

const mapStateToProps = (state) => ({
  loggedIn: state.auth.status === 'logged-in',
  busy: state.auth.busy,
  error: state.auth.error,
});

const mapDispatchToProps = { onRegister: register, onMount: clearAuthError };

export default connect(mapStateToProps, mapDispatchToProps)(RegisterPage);
