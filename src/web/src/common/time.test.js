import { describe, expect, it } from 'vitest';
import { timeAgo } from './time.js';

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
