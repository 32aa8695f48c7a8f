import { useState } from 'react';
import { Link } from 'react-router';
import ErrorMessage from '../common/ErrorMessage.jsx';
import Field from '../common/Field.jsx';

/** The log-in form. Presentational: `onSubmit({email, password})`. */
export default function LoginForm({ busy, error, onSubmit }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');

  function submit(event) {
    event.preventDefault();
    onSubmit({ email: email.trim(), password });
  }

  return (
    <form className="card form" onSubmit={submit} aria-labelledby="login-heading" noValidate>
      <h1 id="login-heading" tabIndex={-1}>Log in</h1>
      <ErrorMessage error={error} />
      <Field id="email" label="Email" type="email" autoComplete="email" required
        value={email} onChange={(e) => setEmail(e.target.value)} />
      <Field id="password" label="Password" type="password" autoComplete="current-password" required
        value={password} onChange={(e) => setPassword(e.target.value)} />
      <button type="submit" className="button button--primary" disabled={busy}>
        {busy ? 'Logging in…' : 'Log in'}
      </button>
      <p className="form__aside">
        New here? <Link to="/register">Create an account</Link>
      </p>
    </form>
  );
}
