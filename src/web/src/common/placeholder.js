// The picture of a user who has none: a silhouette, as inline SVG data (the
// CSP allows data: images), so that no external asset is needed.
const SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96">' +
  '<rect width="96" height="96" fill="#dfe5f3"/>' +
  '<circle cx="48" cy="37" r="17" fill="#93a2c6"/>' +
  '<path d="M14 96c3-21 17-32 34-32s31 11 34 32z" fill="#93a2c6"/>' +
  '</svg>';

export const PLACEHOLDER_PICTURE = `data:image/svg+xml,${encodeURIComponent(SVG)}`;
