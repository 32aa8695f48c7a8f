import { useState } from 'react';
import ErrorMessage from '../common/ErrorMessage.jsx';
import Field from '../common/Field.jsx';
import { fieldOfError } from '../auth/fieldErrors.js';

/** Edit one's own first name, last name and bio. Presentational. */
export default function EditProfileForm({ me, status, error, onSave }) {
  const [values, setValues] = useState({ first: me.first, last: me.last, bio: me.bio ?? '' });
  const invalid = fieldOfError(error);
  const fieldError = (name) => (invalid === name ? error.message : null);

  function change(event) {
    const { name, value } = event.target;
    setValues((old) => ({ ...old, [name]: value }));
  }

  function submit(event) {
    event.preventDefault();
    const changes = {};
    for (const key of ['first', 'last', 'bio']) {
      if (values[key] !== (me[key] ?? '')) changes[key] = values[key];
    }
    onSave(changes);
  }

  return (
    <form className="card form" onSubmit={submit} aria-labelledby="edit-heading" noValidate>
      <h2 id="edit-heading">Your name and bio</h2>
      <ErrorMessage error={invalid ? null : error} />
      <div className="form__row">
        <Field id="first" label="First name" autoComplete="given-name" required maxLength={100}
          value={values.first} onChange={change} error={fieldError('first')} />
        <Field id="last" label="Last name" autoComplete="family-name" required maxLength={100}
          value={values.last} onChange={change} error={fieldError('last')} />
      </div>
      <Field id="bio" label="Bio" multiline rows={4} maxLength={2000}
        hint="A few words about you, up to 2000 characters. Everyone who is logged in can read it."
        value={values.bio} onChange={change} error={fieldError('bio')} />
      <div className="form__actions">
        <button type="submit" className="button button--primary" disabled={status === 'saving'}>
          {status === 'saving' ? 'Saving…' : 'Save'}
        </button>
        <p className="message" role="status">{status === 'saved' ? 'Saved.' : ''}</p>
      </div>
    </form>
  );
}
