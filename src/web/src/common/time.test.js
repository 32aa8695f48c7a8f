import { describe, expect, it } from 'vitest';
import { duration, timeAgo } from './time.js';

const T = Date.UTC(2025, 0, 1, 12);

describe('timeAgo', () => {
  it('says the largest whole unit', () => {
    expect(timeAgo(T - 12400, T, { language: 'en' })).toBe('12 seconds ago');
    expect(timeAgo(T - 12 * 60000, T, { language: 'en' })).toBe('12 minutes ago');
    expect(timeAgo(T - 3 * 3600000 - 5, T, { language: 'en' })).toBe('3 hours ago');
    expect(timeAgo(T - 26 * 3600000, T, { language: 'en' })).toBe('yesterday');
  });

  it('goes no smaller than it is told, and never into the future', () => {
    expect(timeAgo(T - 20000, T, { language: 'en', smallest: 'minute' })).toBe('this minute');
    expect(timeAgo(T + 5000, T, { language: 'en' })).toBe('now');
  });

  it('speaks the viewer\'s language', () => {
    expect(timeAgo(T - 3 * 3600000, T, { language: 'de' })).toBe('vor 3 Stunden');
  });
});

describe('duration', () => {
  it('says the largest whole unit from days to minutes, nothing under a minute', () => {
    expect(duration(59 * 1000, { language: 'en' })).toBe(null);
    expect(duration(12 * 60000 + 59000, { language: 'en' })).toBe('12 minutes');
    expect(duration(60000, { language: 'en' })).toBe('1 minute');
    expect(duration(3 * 3600000 + 5, { language: 'en' })).toBe('3 hours');
    expect(duration(50 * 3600000, { language: 'de' })).toBe('2 Tage');
  });
});
