// The viewer's picture: choose one and it is uploaded at once, or remove it.
import { useEffect, useRef, useState } from 'react';
import Avatar from '../common/Avatar.jsx';
import ErrorMessage from '../common/ErrorMessage.jsx';
import { _ } from '../i18n/index.js';
import { AVATAR_TYPES } from './profileSlice.js';

// The chosen file as a data: URL, the only kind of local picture the CSP
// (img-src 'self' data:) lets the page show; blob: URLs are refused.
function readAsDataUrl(file) {
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(typeof reader.result === 'string' ? reader.result : null);
    reader.onerror = () => resolve(null);
    reader.readAsDataURL(file);
  });
}

const MESSAGES = {
  saving: () => _('Uploading…'),
  saved: () => _('Picture updated.'),
  removing: () => _('Removing…'),
  removed: () => _('Picture removed.'),
};

/**
 * Upload a new picture as soon as it is chosen, with a preview while it
 * goes, or remove the current one. Presentational: `onUpload(file)`,
 * `onRemove()`.
 */
export default function AvatarForm({ user, status, error, onUpload, onRemove }) {
  const input = useRef(null);
  const [preview, setPreview] = useState(null);
  const busy = status === 'saving' || status === 'removing';

  // The preview stands in only while the upload is under way.
  useEffect(() => {
    if (status !== 'saving') setPreview(null);
    // The Remove button is gone: keep the focus in the form, on the chooser.
    if (status === 'removed' && document.activeElement === document.body) input.current?.focus();
  }, [status]);

  async function choose(event) {
    const file = event.target.files?.[0];
    if (!file) return;
    if (AVATAR_TYPES.includes(file.type)) setPreview(await readAsDataUrl(file));
    onUpload(file);
    // Choosing the same file again uploads it again.
    event.target.value = '';
  }

  return (
    <section className="card form avatar-form" aria-labelledby="avatar-heading">
      <h2 id="avatar-heading">{_('Your picture')}</h2>
      <ErrorMessage error={error} />
      <div className="avatar-form__row">
        <Avatar user={user} size="large" src={preview} />
        <div className="avatar-form__controls">
          <div className="field">
            <label htmlFor="avatar">{_('New picture')}</label>
            <input id="avatar" name="avatar" type="file" ref={input} accept={AVATAR_TYPES.join(',')}
              aria-describedby="avatar-hint" onChange={choose} disabled={busy} />
            <p id="avatar-hint" className="field__hint">
              {_('PNG, JPEG, WebP or GIF, up to 5 MiB. It is uploaded as soon as you choose it.')}
            </p>
          </div>
          <div className="form__actions">
            {user.imageUrl && (
              <button type="button" className="button" onClick={() => onRemove()} disabled={busy}>
                {_('Remove picture')}
              </button>
            )}
            <p className="message" role="status" data-testid="avatar-status">{MESSAGES[status]?.() ?? ''}</p>
          </div>
        </div>
      </div>
    </section>
  );
}
