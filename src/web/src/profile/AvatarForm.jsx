import { useRef, useState } from 'react';
import ErrorMessage from '../common/ErrorMessage.jsx';
import { AVATAR_TYPES } from './profileSlice.js';

/** Upload a new picture. Presentational: `onUpload(file)`. */
export default function AvatarForm({ status, error, onUpload }) {
  const input = useRef(null);
  const [chosen, setChosen] = useState(false);

  function submit(event) {
    event.preventDefault();
    const file = input.current?.files?.[0];
    if (file) onUpload(file);
  }

  return (
    <form className="card form" onSubmit={submit} aria-labelledby="avatar-heading">
      <h2 id="avatar-heading">Your picture</h2>
      <ErrorMessage error={error} />
      <div className="field">
        <label htmlFor="avatar">New picture</label>
        <input id="avatar" name="avatar" type="file" ref={input} accept={AVATAR_TYPES.join(',')}
          aria-describedby="avatar-hint" onChange={(e) => setChosen(e.target.files.length > 0)} />
        <p id="avatar-hint" className="field__hint">PNG, JPEG, WebP or GIF, up to 5 MiB.</p>
      </div>
      <div className="form__actions">
        <button type="submit" className="button" disabled={!chosen || status === 'saving'}>
          {status === 'saving' ? 'Uploading…' : 'Upload picture'}
        </button>
        <p className="message" role="status">{status === 'saved' ? 'Picture updated.' : ''}</p>
      </div>
    </form>
  );
}
