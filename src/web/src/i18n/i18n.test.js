import { afterEach, describe, expect, it } from 'vitest';
import { check, extract } from '../../scripts/check-i18n.mjs';
import { retryText } from '../common/ErrorMessage.jsx';
import de from './de/index.js';
import { _, currentLanguage, ngettext, pickLanguage, setLanguage } from './index.js';

afterEach(() => setLanguage('en'));

describe('i18n', () => {
  it('picks the first language of the browser it has, English otherwise', () => {
    expect(pickLanguage(['de-DE', 'en-US'])).toBe('de');
    expect(pickLanguage(['de-AT'])).toBe('de');
    expect(pickLanguage(['fr-FR', 'de'])).toBe('de');
    expect(pickLanguage(['en-GB', 'de'])).toBe('en');
    expect(pickLanguage(['fr', 'ja'])).toBe('en');
    expect(pickLanguage([])).toBe('en');
    expect(pickLanguage(undefined)).toBe('en');
  });

  it('translates whole messages and fills their placeholders', () => {
    expect(_('Log in')).toBe('Log in');
    setLanguage('de-DE');
    expect(currentLanguage()).toBe('de');
    expect(_('Log in')).toBe('Anmelden');
    expect(_('{name} — Munity', { name: 'Ada Lovelace' })).toBe('Ada Lovelace — Munity');
    // A placeholder without a value stays visible rather than vanishing.
    expect(_('{name} — Munity')).toBe('{name} — Munity');
  });

  it('falls back to the English id for a message the catalogue lacks', () => {
    setLanguage('de');
    expect(_('A message nobody translated, {who}.', { who: 'Bob' })).toBe('A message nobody translated, Bob.');
    expect(ngettext('{n} thing', '{n} things', 3)).toBe('3 things');
  });

  it('picks plural forms by the count, in English and German', () => {
    const one = 'Too many attempts. Try again in {n} second.';
    const many = 'Too many attempts. Try again in {n} seconds.';
    expect(ngettext(one, many, 1)).toBe('Too many attempts. Try again in 1 second.');
    expect(ngettext(one, many, 0)).toBe('Too many attempts. Try again in 0 seconds.');
    expect(ngettext(one, many, 30)).toBe('Too many attempts. Try again in 30 seconds.');
    setLanguage('de');
    expect(ngettext(one, many, 1)).toBe('Zu viele Versuche. Versuchen Sie es in 1 Sekunde noch einmal.');
    expect(ngettext(one, many, 30)).toBe('Zu viele Versuche. Versuchen Sie es in 30 Sekunden noch einmal.');
  });

  it('says when to try again from Retry-After', () => {
    expect(retryText(30)).toBe('Too many attempts. Try again in 30 seconds.');
    expect(retryText(1)).toBe('Too many attempts. Try again in 1 second.');
    expect(retryText(0.2)).toBe('Too many attempts. Try again in 1 second.');
    expect(retryText(600)).toBe('Too many attempts. Try again in 10 minutes.');
    expect(retryText(61 * 60 - 30)).toBe('Too many attempts. Try again in 61 minutes.');
    expect(retryText(NaN)).toBe('Too many attempts. Try again later.');
    setLanguage('de');
    expect(retryText(60)).toBe('Zu viele Versuche. Versuchen Sie es in 60 Sekunden noch einmal.');
    expect(retryText(100)).toBe('Zu viele Versuche. Versuchen Sie es in 2 Minuten noch einmal.');
  });
});

describe('check-i18n', () => {
  it('finds the ids of _() and ngettext(), escapes and all', () => {
    const { messages, problems } = extract(
      "x = _('It\\'s {name}');\ny = ngettext(\"{n} cat\", '{n} cats', n);\nz = a_('no'); w = obj._('no');\n",
      'f.js',
    );
    expect(problems).toEqual([]);
    expect(messages).toEqual([
      { id: "It's {name}", plural: null, where: 'f.js:1' },
      { id: '{n} cat', plural: '{n} cats', where: 'f.js:2' },
    ]);
  });

  it('refuses an id that is not a literal: it could never be translated', () => {
    expect(extract('_(`Hello ${name}`)', 'f.js').problems).toHaveLength(1);
    expect(extract('_(message)', 'f.js').problems).toHaveLength(1);
    expect(extract("ngettext('one', many, n)", 'f.js').problems).toHaveLength(1);
  });

  it('fails for a missing translation, a wrong kind of entry or other placeholders', () => {
    const { messages } = extract("_('Hi {name}'); _('Gone'); ngettext('{n} cat', '{n} cats', n); _('Plural?');", 'f.js');
    const problems = check(messages, {
      'Hi {name}': 'Hallo {nom}',
      '{n} cat': ['eine Katze', '{n} Katzen'],
      'Plural?': ['a', 'b'],
    });
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/Hallo \{nom\}/);
    expect(problems.join('\n')).toMatch(/no de translation for "Gone"/);
    expect(problems.join('\n')).toMatch(/"Plural\?" must be a string/);
  });

  it('passes on the German catalogue of the tree', () => {
    expect(check([{ id: 'Log in', plural: null, where: 'x' }], de)).toEqual([]);
  });
});
