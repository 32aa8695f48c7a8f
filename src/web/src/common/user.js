// Users as the client keeps them: {id, first, last, imageUrl, status} (+ bio,
// email, online, lastSeen where the API gives them). Anything else a frame
// carries is dropped.

export const STATUSES = ['online', 'idle'];

export function isUserId(id) {
  return Number.isSafeInteger(id) && id > 0;
}

/**
 * The fields of a user frame the client keeps. `status` is there only when
 * the frame carries a valid one (doc/protocol.md §3), so that a user object
 * without it (the HTTP API's) does not reset a status the list knows.
 */
export function pickUser(user) {
  if (user === null || typeof user !== 'object' || !isUserId(user.id)) return null;
  const picked = {
    id: user.id,
    first: typeof user.first === 'string' ? user.first : '',
    last: typeof user.last === 'string' ? user.last : '',
    imageUrl: typeof user.imageUrl === 'string' && user.imageUrl !== '' ? user.imageUrl : null,
  };
  if (STATUSES.includes(user.status)) picked.status = user.status;
  return picked;
}

export function displayName(user) {
  return `${user.first} ${user.last}`.trim();
}

// The first grapheme of a name (an accented letter or an emoji counts as one).
const segmenter = typeof Intl.Segmenter === 'function' ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;

function firstGrapheme(text) {
  const trimmed = text.trim();
  if (trimmed === '') return '';
  if (segmenter) return segmenter.segment(trimmed)[Symbol.iterator]().next().value.segment;
  return Array.from(trimmed)[0];
}

/** "AL" for Ada Lovelace: what a face without a picture shows. */
export function initials(user) {
  const text = `${firstGrapheme(user.first ?? '')}${firstGrapheme(user.last ?? '')}`;
  return text === '' ? '?' : text.toLocaleUpperCase();
}

/**
 * How a search query matches a name: case and accents do not matter, so
 * "zoe" finds "Zoë" and "ADA" finds "Ada".
 */
export function foldForSearch(text) {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLocaleLowerCase();
}
