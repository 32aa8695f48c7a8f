import { Link } from 'react-router';
import ErrorMessage from '../common/ErrorMessage.jsx';
import Field from '../common/Field.jsx';
import { _ } from '../i18n/index.js';
import useForm from './useForm.js';
import { validateLogin } from './validate.js';

/** The log-in form. Presentational: `onSubmit({email, password})`. */
export default function LoginForm({ busy, error, onSubmit }) {
  const form = useForm({
    initial: { email: '', password: '' },
    validate: validateLogin,
    order: ['email', 'password'],
    send: ({ email, password }) => onSubmit({ email: email.trim(), password }),
    busy,
    serverError: error,
  });

  // The button stays enabled while busy (aria-disabled): a disabled button
  // would drop the focus to <body>.
  return (
    <form className="card form" onSubmit={form.submit} aria-labelledby="login-heading" noValidate>
      <h1 id="login-heading" tabIndex={-1}>{_('Log in')}</h1>
      <ErrorMessage error={form.formError} ref={form.messageRef} />
      <Field label={_('Email')} type="email" autoComplete="email" required {...form.field('email')} />
      <Field label={_('Password')} type="password" autoComplete="current-password" required revealable
        {...form.field('password')} />
      <button type="submit" className="button button--primary" aria-disabled={busy || undefined}>
        {busy ? _('Logging in…') : _('Log in')}
      </button>
      <p className="form__aside">
        {_('New here?')} <Link to="/register">{_('Create an account')}</Link>
      </p>
    </form>
  );
}
