import { Link } from 'react-router';
import ErrorMessage from '../common/ErrorMessage.jsx';
import Field from '../common/Field.jsx';
import { _ } from '../i18n/index.js';
import useForm from './useForm.js';
import { validateRegister } from './validate.js';

/** The registration form. Presentational: `onSubmit({first, last, email, password})`. */
export default function RegisterForm({ busy, error, onSubmit }) {
  const form = useForm({
    initial: { first: '', last: '', email: '', password: '' },
    validate: validateRegister,
    order: ['first', 'last', 'email', 'password'],
    send: (values) => onSubmit({ ...values, email: values.email.trim() }),
    busy,
    serverError: error,
  });

  return (
    <form className="card form" onSubmit={form.submit} aria-labelledby="register-heading" noValidate>
      <h1 id="register-heading" tabIndex={-1}>{_('Create an account')}</h1>
      <ErrorMessage error={form.formError} ref={form.messageRef} />
      <div className="form__row">
        <Field label={_('First name')} autoComplete="given-name" required maxLength={100} {...form.field('first')} />
        <Field label={_('Last name')} autoComplete="family-name" required maxLength={100} {...form.field('last')} />
      </div>
      <Field label={_('Email')} type="email" autoComplete="email" required {...form.field('email')} />
      <Field label={_('Password')} type="password" autoComplete="new-password" required minLength={8} revealable
        hint={_('At least 8 characters.')} {...form.field('password')} />
      <button type="submit" className="button button--primary" aria-disabled={busy || undefined}>
        {busy ? _('Creating your account…') : _('Create account')}
      </button>
      <p className="form__aside">
        {_('Already have an account?')} <Link to="/login">{_('Log in')}</Link>
      </p>
    </form>
  );
}
