// A labelled form field; its hint and error are tied to the input, and a
// password field can be shown in clear text.
import { forwardRef, useState } from 'react';
import { _ } from '../i18n/index.js';

/**
 * `error` (a sentence) marks the field invalid; `revealable` adds a "Show
 * password" toggle button (aria-pressed) to a password field. A ref
 * reaches the input, so that a form can lead the focus to it.
 */
const Field = forwardRef(function Field({ id, label, error, hint, multiline = false, revealable = false, type, ...inputProps }, ref) {
  const [shown, setShown] = useState(false);
  const describedBy = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(' ') || undefined;
  const Input = multiline ? 'textarea' : 'input';
  const input = (
    <Input id={id} name={id} ref={ref} type={multiline ? undefined : revealable && shown ? 'text' : type}
      aria-invalid={error ? true : undefined} aria-describedby={describedBy} {...inputProps} />
  );
  return (
    <div className={`field${error ? ' field--invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {revealable ? (
        <div className="field__control">
          {input}
          <button type="button" className="button button--small field__reveal" aria-pressed={shown}
            aria-controls={id} onClick={() => setShown((old) => !old)}>
            {_('Show password')}
          </button>
        </div>
      ) : input}
      {hint && <p id={`${id}-hint`} className="field__hint">{hint}</p>}
      {error && <p id={`${id}-error`} className="field__error">{error}</p>}
    </div>
  );
});

export default Field;
