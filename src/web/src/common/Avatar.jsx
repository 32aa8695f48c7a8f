import { displayName } from './user.js';
import { PLACEHOLDER_PICTURE } from './placeholder.js';

/** A user's picture, or the placeholder when there is none. */
export default function Avatar({ user, size = 'medium' }) {
  const name = displayName(user);
  const hasPicture = Boolean(user.imageUrl);
  return (
    <img
      className={`avatar avatar--${size}${hasPicture ? '' : ' avatar--placeholder'}`}
      src={hasPicture ? user.imageUrl : PLACEHOLDER_PICTURE}
      alt={hasPicture ? `Picture of ${name}` : `${name} has no picture`}
      width="96"
      height="96"
      loading="lazy"
      decoding="async"
    />
  );
}
