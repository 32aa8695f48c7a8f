// The field rules of doc/api.md ("Validation"), checked before a form is
// sent so that every problem shows at once, in plain words: the server
// answers one error at a time, and counts passwords in bytes.
import { _, ngettext } from '../i18n/index.js';

const NAME_MAX = 100;
const BIO_MAX = 2000;
const EMAIL_MAX_BYTES = 254;
const PASSWORD_MIN = 8;
const PASSWORD_MAX_BYTES = 1024;

const codePoints = (text) => [...text].length;
const bytes = (text) => new TextEncoder().encode(text).length;
// Control characters: C0, DEL and C1 (the server refuses them in names).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const BIO_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

function checkName(value, which) {
  const trimmed = value.trim();
  const messages = {
    first: {
      empty: () => _('Enter your first name.'),
      long: () => _('Your first name can have at most 100 characters.'),
      control: () => _('Your first name contains characters that cannot be used.'),
    },
    last: {
      empty: () => _('Enter your last name.'),
      long: () => _('Your last name can have at most 100 characters.'),
      control: () => _('Your last name contains characters that cannot be used.'),
    },
  }[which];
  if (trimmed === '') return messages.empty();
  if (codePoints(trimmed) > NAME_MAX) return messages.long();
  if (CONTROL.test(trimmed)) return messages.control();
  return null;
}

/** Whether `email` has the shape munityd accepts (doc/api.md). */
export function isEmail(email) {
  if (/[\s\u0000-\u001f\u007f]/.test(email) || bytes(email) > EMAIL_MAX_BYTES) return false;
  const parts = email.split('@');
  if (parts.length !== 2 || parts[0] === '') return false;
  const labels = parts[1].split('.');
  return labels.length > 1 && labels.every((label) => label !== '');
}

function checkEmail(email) {
  if (email === '') return _('Enter your email address.');
  if (bytes(email) > EMAIL_MAX_BYTES) return _('This email address is too long.');
  if (!isEmail(email)) return _('Enter an email address like name@example.org.');
  return null;
}

function checkNewPassword(password) {
  if (password === '') return _('Enter a password.');
  const n = codePoints(password);
  if (n < PASSWORD_MIN) {
    return ngettext('Use at least 8 characters. This password has {n} character.',
      'Use at least 8 characters. This password has {n} characters.', n);
  }
  if (bytes(password) > PASSWORD_MAX_BYTES) return _('This password is too long.');
  return null;
}

// {field: message} of the fields with a problem; {} when all is well.
function collect(checks) {
  const errors = {};
  for (const [field, message] of Object.entries(checks)) {
    if (message) errors[field] = message;
  }
  return errors;
}

/** Problems of a login form: which fields are missing. */
export function validateLogin({ email, password }) {
  return collect({
    email: email.trim() === '' ? _('Enter your email address.') : null,
    password: password === '' ? _('Enter your password.') : null,
  });
}

/** Problems of a registration form, every field at once. */
export function validateRegister({ first, last, email, password }) {
  return collect({
    first: checkName(first, 'first'),
    last: checkName(last, 'last'),
    email: checkEmail(email.trim()),
    password: checkNewPassword(password),
  });
}

/** Problems of the profile form (first, last, bio). */
export function validateProfile({ first, last, bio }) {
  const n = codePoints(bio ?? '');
  return collect({
    first: checkName(first, 'first'),
    last: checkName(last, 'last'),
    bio: n > BIO_MAX
      ? ngettext('Your bio can have at most 2000 characters. It has {n} character.',
        'Your bio can have at most 2000 characters. It has {n} characters.', n)
      : BIO_CONTROL.test(bio ?? '') ? _('Your bio contains characters that cannot be used.') : null,
  });
}

/** The fields of `errors` in the order of `order`: the first gets the focus. */
export function firstInvalid(errors, order) {
  return order.find((field) => field in errors) ?? null;
}
