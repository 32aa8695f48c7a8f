// "12 seconds ago", "3 hours ago" in the viewer's language, and a clock
// that makes a component say it again as time passes.
import { useEffect, useState } from 'react';
import { currentLanguage } from '../i18n/index.js';

const UNITS = [
  ['year', 365 * 24 * 3600 * 1000],
  ['month', 30 * 24 * 3600 * 1000],
  ['week', 7 * 24 * 3600 * 1000],
  ['day', 24 * 3600 * 1000],
  ['hour', 3600 * 1000],
  ['minute', 60 * 1000],
  ['second', 1000],
];

/**
 * How long ago `then` was at `now` (both ms since the epoch), as
 * Intl.RelativeTimeFormat says it in `language`: the largest whole unit,
 * never a smaller one than `smallest` ('second' or 'minute').
 */
export function timeAgo(then, now, { language = currentLanguage(), smallest = 'second' } = {}) {
  const elapsed = Math.max(0, now - then);
  const format = new Intl.RelativeTimeFormat(language, { numeric: 'auto' });
  const floor = UNITS.findIndex(([unit]) => unit === smallest);
  for (const [index, [unit, ms]] of UNITS.entries()) {
    if (elapsed >= ms || index === floor) return format.format(-Math.floor(elapsed / ms), unit);
  }
  return format.format(0, smallest);
}

const DURATION_UNITS = [['day', 24 * 3600 * 1000], ['hour', 3600 * 1000], ['minute', 60 * 1000]];

/**
 * How long `ms` is, in its largest whole unit from days to minutes, as
 * `language` writes it ("12 minutes", "3 Stunden"); null under a minute.
 */
export function duration(ms, { language = currentLanguage() } = {}) {
  for (const [unit, size] of DURATION_UNITS) {
    if (ms >= size) {
      return new Intl.NumberFormat(language, { style: 'unit', unit, unitDisplay: 'long' })
        .format(Math.floor(ms / size));
    }
  }
  return null;
}

/** The time now, renewed every `intervalMs` while `running`. */
export function useNow(intervalMs, running = true) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!running) return undefined;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs, running]);
  return now;
}
