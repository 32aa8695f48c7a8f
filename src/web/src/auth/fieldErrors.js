// Maps an API error code to the form field it is about ("invalid-email" →
// "email"), so that the field can be marked invalid.
const FIELDS = {
  'invalid-first': 'first',
  'invalid-last': 'last',
  'invalid-email': 'email',
  'email-taken': 'email',
  'invalid-password': 'password',
  'invalid-bio': 'bio',
};

export function fieldOfError(error) {
  return error ? FIELDS[error.code] ?? null : null;
}
