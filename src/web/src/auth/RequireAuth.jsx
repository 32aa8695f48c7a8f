// Wraps the screens that need a session: to /login without one.
import { connect } from 'react-redux';
import { Navigate, useLocation } from 'react-router';

function RequireAuth({ status, children }) {
  const location = useLocation();
  if (status === 'logged-in') return children;
  return <Navigate to="/login" replace state={{ from: location.pathname }} />;
}

export default connect((state) => ({ status: state.auth.status }))(RequireAuth);
