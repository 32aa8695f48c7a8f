// The screens and their routes, each with its own document title.
import { useEffect } from 'react';
import { connect } from 'react-redux';
import { Link, Navigate, Route, Routes, useParams } from 'react-router';
import LoginPage from '../auth/LoginPage.jsx';
import RegisterPage from '../auth/RegisterPage.jsx';
import RequireAuth from '../auth/RequireAuth.jsx';
import { checkSession } from '../auth/authSlice.js';
import ErrorMessage from '../common/ErrorMessage.jsx';
import { displayName } from '../common/user.js';
import { _ } from '../i18n/index.js';
import OnlineListContainer from '../online/OnlineListContainer.jsx';
import MyProfilePage from '../profile/MyProfilePage.jsx';
import UserPage from '../profile/UserProfileContainer.jsx';
import ConnectionBannerContainer from '../socket/ConnectionBannerContainer.jsx';
import { useFocusKeeper, useFocusOnNavigation } from './focus.js';
import HeaderContainer from './HeaderContainer.jsx';

/** Sets document.title while `children` are shown (WCAG 2.4.2). */
function Screen({ title, children }) {
  useEffect(() => {
    document.title = title;
  }, [title]);
  return children;
}

// A profile's title names the user once the profile is known.
function UserScreenTitle({ entry, children }) {
  let title = _('Profile — Munity');
  if (entry?.user) title = _('{name} — Munity', { name: displayName(entry.user) });
  else if (entry?.error?.code === 'no-such-user') title = _('No such user — Munity');
  return <Screen title={title}>{children}</Screen>;
}

const ConnectedUserScreenTitle = connect((state, { id }) => ({ entry: state.profile.users[id] ?? null }))(UserScreenTitle);

function UserScreen() {
  const { id } = useParams();
  return <ConnectedUserScreenTitle id={id}><UserPage /></ConnectedUserScreenTitle>;
}

function App({ status, error, socket, onRetry }) {
  useFocusOnNavigation();
  useFocusKeeper();

  let content;
  if (status === 'unknown') {
    content = (
      <Screen title={_('Munity')}>
        <p className="loading" role="status">{_('Loading…')}</p>
      </Screen>
    );
  } else if (status === 'unreachable') {
    content = (
      <Screen title={_('Munity cannot be reached — Munity')}>
        <section className="card" aria-labelledby="unreachable-heading">
          <h1 id="unreachable-heading" tabIndex={-1}>{_('Munity cannot be reached')}</h1>
          <ErrorMessage error={error} />
          <button type="button" className="button button--primary" onClick={onRetry}>{_('Try again')}</button>
        </section>
      </Screen>
    );
  } else {
    const loggedIn = status === 'logged-in';
    content = (
      <Routes>
        <Route path="/" element={<Navigate to={loggedIn ? '/online' : '/login'} replace />} />
        <Route path="/login" element={<Screen title={_('Log in — Munity')}><LoginPage /></Screen>} />
        <Route path="/register" element={<Screen title={_('Create an account — Munity')}><RegisterPage /></Screen>} />
        <Route path="/online" element={
          <RequireAuth><Screen title={_('Online now — Munity')}><OnlineListContainer /></Screen></RequireAuth>
        } />
        <Route path="/users/:id" element={<RequireAuth><UserScreen /></RequireAuth>} />
        <Route path="/profile" element={
          <RequireAuth><Screen title={_('Your profile — Munity')}><MyProfilePage /></Screen></RequireAuth>
        } />
        <Route path="*" element={
          <Screen title={_('Page not found — Munity')}>
            <section className="card" aria-labelledby="nowhere-heading">
              <h1 id="nowhere-heading" tabIndex={-1}>{_('Page not found')}</h1>
              <p>{_('This page does not exist.')}</p>
              <p><Link to="/">{_('Go to the start page')}</Link></p>
            </section>
          </Screen>
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
