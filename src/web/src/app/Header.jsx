import { NavLink } from 'react-router';
import Avatar from '../common/Avatar.jsx';
import { _ } from '../i18n/index.js';

/** The top bar: the site's name and where one can go. Presentational. */
export default function Header({ me, busy, onLogout }) {
  // "Log out" stays enabled while busy (aria-disabled): a disabled button
  // would drop the focus to <body>.
  const logout = () => {
    if (!busy) onLogout();
  };
  return (
    <header className="header">
      <a className="skip-link" href="#main">{_('Skip to content')}</a>
      <NavLink to={me ? '/online' : '/login'} className="header__brand">Munity</NavLink>
      <nav aria-label={_('Main')}>
        <ul className="header__nav">
          {me ? (
            <>
              <li><NavLink to="/online">{_('Online now')}</NavLink></li>
              <li>
                <NavLink to="/profile" className="header__me">
                  {/* Decoration: the link's name is "My profile", not the picture's text too. */}
                  <span className="header__picture" aria-hidden="true"><Avatar user={me} size="small" /></span>
                  <span>{_('My profile')}</span>
                </NavLink>
              </li>
              <li>
                <button type="button" className="button button--small" onClick={logout} aria-disabled={busy || undefined}>
                  {_('Log out')}
                </button>
              </li>
            </>
          ) : (
            <>
              <li><NavLink to="/login">{_('Log in')}</NavLink></li>
              <li><NavLink to="/register">{_('Register')}</NavLink></li>
            </>
          )}
        </ul>
      </nav>
    </header>
  );
}
