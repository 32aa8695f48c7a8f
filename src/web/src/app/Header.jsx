import { NavLink } from 'react-router';
import Avatar from '../common/Avatar.jsx';

/** The top bar: the site's name and where one can go. Presentational. */
export default function Header({ me, busy, onLogout }) {
  return (
    <header className="header">
      <a className="skip-link" href="#main">Skip to content</a>
      <NavLink to={me ? '/online' : '/login'} className="header__brand">Munity</NavLink>
      <nav aria-label="Main">
        <ul className="header__nav">
          {me ? (
            <>
              <li><NavLink to="/online">Online now</NavLink></li>
              <li>
                <NavLink to="/profile" className="header__me">
                  <Avatar user={me} size="small" />
                  <span>My profile</span>
                </NavLink>
              </li>
              <li>
                <button type="button" className="button button--small" onClick={onLogout} disabled={busy}>
                  Log out
                </button>
              </li>
            </>
          ) : (
            <>
              <li><NavLink to="/login">Log in</NavLink></li>
              <li><NavLink to="/register">Register</NavLink></li>
            </>
          )}
        </ul>
      </nav>
    </header>
  );
}
