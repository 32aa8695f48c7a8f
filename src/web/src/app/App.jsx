// The screens and their routes.
import { useEffect, useRef } from 'react';
import { connect } from 'react-redux';
import { Navigate, Route, Routes, useLocation } from 'react-router';
import LoginPage from '../auth/LoginPage.jsx';
import RegisterPage from '../auth/RegisterPage.jsx';
import RequireAuth from '../auth/RequireAuth.jsx';
import { checkSession } from '../auth/authSlice.js';
import ErrorMessage from '../common/ErrorMessage.jsx';
import OnlineListContainer from '../online/OnlineListContainer.jsx';
import MyProfilePage from '../profile/MyProfilePage.jsx';
import UserPage from '../profile/UserProfileContainer.jsx';
import ConnectionBannerContainer from '../socket/ConnectionBannerContainer.jsx';
import HeaderContainer from './HeaderContainer.jsx';

// After a navigation, focus goes to the new screen's heading, so keyboard
// and screen reader users start there (not on the first load).
function useFocusOnNavigation() {
  const { pathname } = useLocation();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const heading = document.querySelector('main h1');
    if (heading) heading.focus({ preventScroll: false });
  }, [pathname]);
}

function App({ status, error, socket, onRetry }) {
  useFocusOnNavigation();

  let content;
  if (status === 'unknown') {
    content = <p className="loading" role="status">Loading…</p>;
  } else if (status === 'unreachable') {
    content = (
      <section className="card" aria-labelledby="unreachable-heading">
        <h1 id="unreachable-heading" tabIndex={-1}>Munity cannot be reached</h1>
        <ErrorMessage error={error} />
        <button type="button" className="button button--primary" onClick={onRetry}>Try again</button>
      </section>
    );
  } else {
    const loggedIn = status === 'logged-in';
    content = (
      <Routes>
        <Route path="/" element={<Navigate to={loggedIn ? '/online' : '/login'} replace />} />
        <Route path="/login" element={<LoginPage />} />
        <Route path="/register" element={<RegisterPage />} />
        <Route path="/online" element={<RequireAuth><OnlineListContainer /></RequireAuth>} />
        <Route path="/users/:id" element={<RequireAuth><UserPage /></RequireAuth>} />
        <Route path="/profile" element={<RequireAuth><MyProfilePage /></RequireAuth>} />
        <Route path="*" element={
          <section className="card" aria-labelledby="nowhere-heading">
            <h1 id="nowhere-heading" tabIndex={-1}>Nothing here</h1>
            <p>This page does not exist.</p>
          </section>
        } />
      </Routes>
    );
  }

  return (
    <>
      <HeaderContainer />
      <ConnectionBannerContainer socket={socket} />
      <main id="main" className="main" tabIndex={-1}>
        {content}
      </main>
    </>
  );
}

const mapStateToProps = (state) => ({ status: state.auth.status, error: state.auth.error });

export default connect(mapStateToProps, { onRetry: checkSession })(App);
