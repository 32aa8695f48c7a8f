/**
 * What the live connection is doing, when that matters to the viewer:
 * "Reconnecting…" while the socket is down, or that an administrator
 * disconnected us. Presentational.
 */
export default function ConnectionBanner({ status, onReconnect }) {
  let text = null;
  let action = null;
  if (status === 'reconnecting') {
    text = 'Reconnecting… The list may be out of date until the connection is back.';
    action = 'Try now';
  } else if (status === 'disconnected') {
    text = 'You were disconnected by an administrator.';
    action = 'Reconnect';
  }
  // The region is always there so that screen readers announce changes.
  return (
    <div className={`banner${text ? ' banner--shown' : ''}`} role="status" data-testid="connection-status"
      data-status={status}>
      {text && (
        <>
          <span className="banner__text">{text}</span>
          <button type="button" className="button button--small" onClick={onReconnect}>{action}</button>
        </>
      )}
    </div>
  );
}
