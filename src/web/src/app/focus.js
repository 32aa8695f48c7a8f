// Keeps the keyboard focus on the screen: after a navigation it goes to the
// new screen's heading, and when the focused element disappears (a link to
// a screen that replaced it, a form that was swapped) it goes to the
// heading of what is shown now, never to <body> (WCAG 2.4.3).
import { useEffect, useRef } from 'react';
import { useLocation } from 'react-router';

// Set when the focus went to <main> because the heading was not there yet
// (a profile still loading): the heading gets it once it appears.
let headingPending = false;

/** Moves the focus to the heading of the screen, or to <main> until there is one. */
export function focusScreen() {
  const heading = document.querySelector('main h1');
  if (heading) {
    heading.focus();
    headingPending = false;
  } else {
    document.getElementById('main')?.focus();
    headingPending = true;
  }
}

/** After each navigation (not the first load), the focus goes to the new screen. */
export function useFocusOnNavigation() {
  const { pathname } = useLocation();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    focusScreen();
  }, [pathname]);
}

/** Catches the focus when what had it was removed from the page. */
export function useFocusKeeper() {
  useEffect(() => {
    let last = null;
    const onFocusIn = (event) => {
      last = event.target;
      if (event.target !== document.getElementById('main')) headingPending = false;
    };
    const observer = new MutationObserver(() => {
      const active = document.activeElement;
      if ((active === null || active === document.body) && last !== null && !last.isConnected) {
        last = null;
        focusScreen();
      } else if (headingPending && active === document.getElementById('main') && document.querySelector('main h1')) {
        focusScreen();
      }
    });
    document.addEventListener('focusin', onFocusIn);
    observer.observe(document.body, { childList: true, subtree: true });
    return () => {
      document.removeEventListener('focusin', onFocusIn);
      observer.disconnect();
    };
  }, []);
}
