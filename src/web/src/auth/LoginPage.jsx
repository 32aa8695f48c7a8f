// /login: the log-in form, fed from the store.
import { useEffect } from 'react';
import { connect } from 'react-redux';
import { Navigate, useLocation } from 'react-router';
import { clearAuthError, login } from './authSlice.js';
import LoginForm from './LoginForm.jsx';

function LoginPage({ loggedIn, busy, error, onLogin, onMount }) {
  const location = useLocation();
  useEffect(() => {
    onMount();
  }, [onMount]);
  if (loggedIn) return <Navigate to={location.state?.from ?? '/online'} replace />;
  return <LoginForm busy={busy} error={error} onSubmit={onLogin} />;
}

const mapStateToProps = (state) => ({
  loggedIn: state.auth.status === 'logged-in',
  busy: state.auth.busy,
  error: state.auth.error,
});

const mapDispatchToProps = { onLogin: login, onMount: clearAuthError };

export default connect(mapStateToProps, mapDispatchToProps)(LoginPage);
