// An error the server (or the client) gave, in the viewer's language and
// announced to screen readers.
import { forwardRef } from 'react';
import { _, ngettext } from '../i18n/index.js';

/** "Too many attempts. Try again in 30 seconds.", from Retry-After. */
export function retryText(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return _('Too many attempts. Try again later.');
  if (seconds < 90) {
    const n = Math.max(1, Math.ceil(seconds));
    return ngettext('Too many attempts. Try again in {n} second.', 'Too many attempts. Try again in {n} seconds.', n);
  }
  const n = Math.ceil(seconds / 60);
  return ngettext('Too many attempts. Try again in {n} minute.', 'Too many attempts. Try again in {n} minutes.', n);
}

// The API's error codes (doc/api.md) in plain words. The server's own
// message is English and for developers; it is shown only for a code the
// client does not know.
const TEXTS = {
  network: () => _('Cannot reach Munity. Check your connection and try again.'),
  'bad-credentials': () => _('The email address or the password is wrong.'),
  'email-taken': () => _('An account with this email address already exists. Log in instead?'),
  'invalid-first': () => _('Enter your first name, at most 100 characters.'),
  'invalid-last': () => _('Enter your last name, at most 100 characters.'),
  'invalid-email': () => _('Enter an email address like name@example.org.'),
  'invalid-password': () => _('Use a password of at least 8 characters.'),
  'invalid-bio': () => _('Your bio can have at most 2000 characters.'),
  busy: () => _('Munity is busy right now. Try again in a moment.'),
  'database-unavailable': () => _('Munity cannot reach its database right now. Try again in a moment.'),
  'not-logged-in': () => _('Your session has ended. Log in again.'),
  'storage-full': () => _('Munity has no room to store this right now. Try again later.'),
};

/** The words to show for an API error value ({status, code, message, retryAfter}). */
export function errorText(error) {
  if (!error) return '';
  if (error.code === 'rate-limited') return retryText(error.retryAfter ?? NaN);
  const text = TEXTS[error.code];
  if (text) return text();
  if (/^http-\d+$/.test(error.code ?? '')) return _('The server answered {status}. Try again later.', { status: error.status });
  return error.message || _('Something went wrong.');
}

/**
 * The message, or nothing without an error. It can take the focus (a ref
 * reaches the paragraph), so that a form can lead there after a failure.
 */
const ErrorMessage = forwardRef(function ErrorMessage({ error }, ref) {
  if (!error) return null;
  return (
    <p className="message message--error" role="alert" tabIndex={-1} ref={ref} data-testid="form-error">
      {errorText(error)}
    </p>
  );
});

export default ErrorMessage;
