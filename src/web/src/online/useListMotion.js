// Joins and leaves on the Online now list without layout jumps: the cards
// that a join or leave moves glide to their new place (FLIP: the layout
// changes at once, a transform animation starts from where each card was),
// a leaving card fades out where it stood, a new one fades in. Transforms
// are not layout shifts, so nothing counts against the page's stability
// (tests/browser/crowd.test.mjs measures it). With prefers-reduced-motion
// everything just changes in place.
import { useLayoutEffect, useRef } from 'react';

const MOVE_MS = 240;
const FADE_MS = 200;

function reducedMotion() {
  return typeof matchMedia !== 'function' || matchMedia('(prefers-reduced-motion: reduce)').matches;
}

// Where each card is now, relative to the stage (its offset parent):
// offsets leave any running transform aside.
function measure(list) {
  const places = new Map();
  if (!list) return places;
  for (const item of list.children) {
    const id = item.dataset.userId;
    if (id) places.set(id, { item, left: item.offsetLeft, top: item.offsetTop, width: item.offsetWidth, height: item.offsetHeight });
  }
  return places;
}

/**
 * Animates the children of the list that `listRef` points to, each with a
 * `data-user-id`, from the previous render to this one. `layoutKey`
 * changes when the whole arrangement changes (grid ↔ list): then nothing
 * animates. `ghostsRef` is an empty element, positioned like the list,
 * that holds the fading copies of leaving cards.
 */
export default function useListMotion(listRef, ghostsRef, layoutKey) {
  const before = useRef(new Map());
  const lastKey = useRef(layoutKey);

  // Read during render, while the DOM still shows the previous state
  // (what getSnapshotBeforeUpdate does for classes). Only layout is read.
  if (listRef.current) before.current = measure(listRef.current);

  useLayoutEffect(() => {
    const list = listRef.current;
    const old = before.current;
    const sameLayout = lastKey.current === layoutKey;
    lastKey.current = layoutKey;
    if (!list || old.size === 0 || !sameLayout || reducedMotion() || typeof list.animate !== 'function') return;

    const now = measure(list);
    for (const [id, place] of now) {
      const was = old.get(id);
      if (!was) {
        place.item.animate([{ opacity: 0, transform: 'scale(0.92)' }, { opacity: 1, transform: 'none' }],
          { duration: FADE_MS, easing: 'ease-out' });
      } else if (was.left !== place.left || was.top !== place.top) {
        place.item.animate(
          [{ transform: `translate(${was.left - place.left}px, ${was.top - place.top}px)` }, { transform: 'none' }],
          { duration: MOVE_MS, easing: 'ease-out' },
        );
      }
    }
    const ghosts = ghostsRef.current;
    if (!ghosts) return;
    for (const [id, was] of old) {
      if (now.has(id) || was.item.isConnected) continue;
      const ghost = was.item.cloneNode(true);
      ghost.removeAttribute('data-user-id');
      ghost.classList.add('person--leaving');
      ghost.setAttribute('inert', '');
      // CSSOM, not a style attribute: the CSP allows it.
      Object.assign(ghost.style, {
        left: `${was.left}px`, top: `${was.top}px`, width: `${was.width}px`, height: `${was.height}px`,
      });
      ghosts.append(ghost);
      ghost.animate([{ opacity: 1, transform: 'none' }, { opacity: 0, transform: 'scale(0.92)' }],
        { duration: FADE_MS, easing: 'ease-in', fill: 'forwards' })
        .finished.catch(() => {}).finally(() => ghost.remove());
    }
  });
}
