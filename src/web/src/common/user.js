// Users as the client keeps them: {id, first, last, imageUrl} (+ bio, email
// where the API gives them). Anything else a frame carries is dropped.

export function isUserId(id) {
  return Number.isSafeInteger(id) && id > 0;
}

export function pickUser(user) {
  if (user === null || typeof user !== 'object' || !isUserId(user.id)) return null;
  return {
    id: user.id,
    first: typeof user.first === 'string' ? user.first : '',
    last: typeof user.last === 'string' ? user.last : '',
    imageUrl: typeof user.imageUrl === 'string' && user.imageUrl !== '' ? user.imageUrl : null,
  };
}

export function displayName(user) {
  return `${user.first} ${user.last}`.trim();
}
