// The colour of a face without a picture: one of a fixed palette, picked
// from the user id so that it is the same on every screen and every visit.
// The colours themselves are in app/styles.css (.face--N, light and dark),
// where the CSP lets them be; src/common/placeholder.test.js checks their
// contrast with the initials.

export const FACE_COLOURS = 12;

/** The palette index of user `id`: stable, and different for neighbouring ids. */
export function faceColour(id) {
  // A step of 5 through 12 colours (5 and 12 are coprime): any 12
  // consecutive ids get 12 different colours, and neighbours are far apart.
  const n = Math.abs(Math.trunc(Number(id))) || 0;
  return (n * 5) % FACE_COLOURS;
}
