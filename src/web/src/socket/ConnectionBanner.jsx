// The banner that says what the live connection is doing.
import { _ } from '../i18n/index.js';

/**
 * What the live connection is doing, when that matters to the viewer:
 * "Reconnecting…" while the socket is down, or that an administrator
 * disconnected us, with a button to come back. Presentational.
 */
export default function ConnectionBanner({ status, onReconnect }) {
  let text = null;
  let action = null;
  if (status === 'reconnecting') {
    text = _('Reconnecting… The list may be out of date until the connection is back.');
    action = _('Try now');
  } else if (status === 'disconnected') {
    text = _('An administrator disconnected you. The list is no longer updated.');
    action = _('Reconnect');
  }
  // The region is always there so that screen readers announce changes.
  return (
    <div className={`banner${text ? ' banner--shown' : ''}${status === 'disconnected' ? ' banner--stopped' : ''}`}
      role="status" data-testid="connection-status" data-status={status}>
      {text && (
        <>
          <span className="banner__text">{text}</span>
          <button type="button" className="button button--small" onClick={onReconnect}>{action}</button>
        </>
      )}
    </div>
  );
}
