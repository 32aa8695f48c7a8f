import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { faceColour, FACE_COLOURS } from './placeholder.js';
import { foldForSearch, initials, pickUser } from './user.js';

const css = readFileSync(new URL('../app/styles.css', import.meta.url), 'utf8');
const darkStart = css.indexOf('@media (prefers-color-scheme: dark)', css.indexOf('.face--0'));

// The colours of `.face--N` and the initials' colour, in the light theme
// (before the dark block) or the dark one.
function palette(dark) {
  const part = dark ? css.slice(darkStart, css.indexOf('\n}\n', darkStart)) : css.slice(0, darkStart);
  const faces = [...part.matchAll(/\.face--(\d+) \{ background: (#[0-9a-f]{6}); \}/g)].map((m) => [Number(m[1]), m[2]]);
  const text = [...part.matchAll(/\.avatar--initials \{[^}]*?\bcolor: (#[0-9a-f]{6})/gs)].at(-1)[1];
  return { faces, text };
}

function luminance(hex) {
  const [r, g, b] = hex.match(/[0-9a-f]{2}/g).map((h) => parseInt(h, 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

describe('faces without a picture', () => {
  it('get a colour from the user id: always the same, spread over neighbours', () => {
    expect(faceColour(42)).toBe(faceColour(42));
    const colours = Array.from({ length: 24 }, (_, i) => faceColour(i + 1));
    expect(colours.every((c) => c >= 0 && c < FACE_COLOURS)).toBe(true);
    expect(new Set(colours).size).toBe(FACE_COLOURS);
    for (let i = 1; i < colours.length; i++) expect(colours[i]).not.toBe(colours[i - 1]);
  });

  for (const dark of [false, true]) {
    it(`have initials with at least 4.5:1 contrast, every colour, ${dark ? 'dark' : 'light'} theme`, () => {
      const { faces, text } = palette(dark);
      expect(faces.map(([n]) => n)).toEqual(Array.from({ length: FACE_COLOURS }, (_, i) => i));
      for (const [n, background] of faces) {
        expect(contrast(text, background), `.face--${n}`).toBeGreaterThanOrEqual(4.5);
      }
    });
  }

  it('are not a light disc in the dark theme', () => {
    for (const [, background] of palette(true).faces) expect(luminance(background)).toBeLessThan(0.1);
  });

  it('show the initials of first and last name', () => {
    expect(initials({ first: 'Ada', last: 'Lovelace' })).toBe('AL');
    expect(initials({ first: ' ada ', last: '' })).toBe('A');
    expect(initials({ first: 'émile', last: 'Zola' })).toBe('ÉZ');
    expect(initials({ first: '👩🏽‍🚀x', last: 'Ride' })).toBe('👩🏽‍🚀R');
    expect(initials({ first: '', last: '' })).toBe('?');
  });
});

describe('users', () => {
  it('keep a valid status and drop an invalid one', () => {
    expect(pickUser({ id: 1, first: 'A', last: 'B', imageUrl: null, status: 'idle' }).status).toBe('idle');
    expect('status' in pickUser({ id: 1, first: 'A', last: 'B', status: 'away' })).toBe(false);
  });

  it('are searched without case or accents', () => {
    expect(foldForSearch('Zoë ÅNGSTRÖM')).toBe('zoe angstrom');
  });
});
