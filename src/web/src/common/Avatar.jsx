// A user's face: the picture, or the initials on a colour of their own.
import { _ } from '../i18n/index.js';
import { faceColour } from './placeholder.js';
import { displayName, initials } from './user.js';

/**
 * A user's picture, or their initials on a stable colour when there is none.
 * `decorative` leaves it out of the accessibility tree, for places where the
 * name is written next to it (a card, a profile heading).
 */
export default function Avatar({ user, size = 'medium', decorative = false, src = null }) {
  const name = displayName(user);
  const picture = src ?? user.imageUrl;
  if (picture) {
    return (
      <img
        className={`avatar avatar--${size}`}
        src={picture}
        alt={decorative ? '' : _('Picture of {name}', { name })}
        width="96"
        height="96"
        loading="lazy"
        decoding="async"
      />
    );
  }
  const label = decorative ? {} : { role: 'img', 'aria-label': _('{name} has no picture', { name }) };
  return (
    <span className={`avatar avatar--${size} avatar--initials face--${faceColour(user.id)}`}
      aria-hidden={decorative ? true : undefined} {...label}>
      <span className="avatar__initials">{initials(user)}</span>
    </span>
  );
}
