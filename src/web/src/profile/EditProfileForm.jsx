import { useEffect, useRef } from 'react';
import useForm from '../auth/useForm.js';
import { validateProfile } from '../auth/validate.js';
import ErrorMessage from '../common/ErrorMessage.jsx';
import Field from '../common/Field.jsx';
import { _ } from '../i18n/index.js';

/** Edit one's own first name, last name and bio. Presentational. */
export default function EditProfileForm({ me, status, error, onSave }) {
  const saving = status === 'saving';
  const form = useForm({
    initial: { first: me.first, last: me.last, bio: me.bio ?? '' },
    validate: validateProfile,
    order: ['first', 'last', 'bio'],
    send: (values) => {
      const changes = {};
      for (const key of ['first', 'last', 'bio']) {
        if (values[key] !== (me[key] ?? '')) changes[key] = values[key];
      }
      onSave(changes);
    },
    busy: saving,
    serverError: error,
  });

  // The button stays where the focus is while saving (aria-disabled, not
  // disabled, which would drop the focus to <body>).
  const button = useRef(null);
  useEffect(() => {
    if (status === 'saved' && document.activeElement === document.body) button.current?.focus();
  }, [status]);

  return (
    <form className="card form" onSubmit={form.submit} aria-labelledby="edit-heading" noValidate>
      <h2 id="edit-heading">{_('Your name and bio')}</h2>
      <ErrorMessage error={form.formError} ref={form.messageRef} />
      <div className="form__row">
        <Field label={_('First name')} autoComplete="given-name" required maxLength={100} {...form.field('first')} />
        <Field label={_('Last name')} autoComplete="family-name" required maxLength={100} {...form.field('last')} />
      </div>
      <Field label={_('Bio')} multiline rows={4} maxLength={2000}
        hint={_('A few words about you, up to 2000 characters. Everyone who is logged in can read it.')}
        {...form.field('bio')} />
      <div className="form__actions">
        <button type="submit" className="button button--primary" aria-disabled={saving || undefined} ref={button}>
          {saving ? _('Saving…') : _('Save')}
        </button>
        <p className="message" role="status">{status === 'saved' ? _('Saved.') : ''}</p>
      </div>
    </form>
  );
}
