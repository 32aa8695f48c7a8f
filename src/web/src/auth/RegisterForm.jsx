import { useState } from 'react';
import { Link } from 'react-router';
import ErrorMessage from '../common/ErrorMessage.jsx';
import Field from '../common/Field.jsx';
import { fieldOfError } from './fieldErrors.js';

/** The registration form. Presentational: `onSubmit({first, last, email, password})`. */
export default function RegisterForm({ busy, error, onSubmit }) {
  const [values, setValues] = useState({ first: '', last: '', email: '', password: '' });
  const invalid = fieldOfError(error);

  function change(event) {
    const { name, value } = event.target;
    setValues((old) => ({ ...old, [name]: value }));
  }

  function submit(event) {
    event.preventDefault();
    onSubmit({ ...values, email: values.email.trim() });
  }

  const fieldError = (name) => (invalid === name ? error.message : null);

  return (
    <form className="card form" onSubmit={submit} aria-labelledby="register-heading" noValidate>
      <h1 id="register-heading" tabIndex={-1}>Create an account</h1>
      <ErrorMessage error={invalid ? null : error} />
      <div className="form__row">
        <Field id="first" label="First name" autoComplete="given-name" required maxLength={100}
          value={values.first} onChange={change} error={fieldError('first')} />
        <Field id="last" label="Last name" autoComplete="family-name" required maxLength={100}
          value={values.last} onChange={change} error={fieldError('last')} />
      </div>
      <Field id="email" label="Email" type="email" autoComplete="email" required
        value={values.email} onChange={change} error={fieldError('email')} />
      <Field id="password" label="Password" type="password" autoComplete="new-password" required minLength={8}
        hint="At least 8 characters." value={values.password} onChange={change} error={fieldError('password')} />
      <button type="submit" className="button button--primary" disabled={busy}>
        {busy ? 'Creating your account…' : 'Create account'}
      </button>
      <p className="form__aside">
        Already have an account? <Link to="/login">Log in</Link>
      </p>
    </form>
  );
}
