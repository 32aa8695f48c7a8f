// The web client's translations, gettext-style: the English text is the
// message id, a catalogue per language maps it to the translation, and a
// message is always one whole sentence with named placeholders ({name}),
// never glued together from pieces. Plurals go through ngettext(), which
// picks the form by the language's plural rule.
//
// The language comes from the browser (navigator.languages); English is the
// fallback for languages we have no catalogue for and for ids a catalogue
// lacks. Catalogues live in ./de/*.js, one file per area of the client,
// merged here; scripts/check-i18n.mjs checks every id in the sources has a
// German entry.
import de from './de/index.js';

const CATALOGUES = { de };

// Plural rules: index of the form to use for n. English and German share it.
const PLURAL = {
  en: (n) => (n === 1 ? 0 : 1),
  de: (n) => (n === 1 ? 0 : 1),
};

/**
 * The first of `languages` (BCP 47 tags, best first, as in
 * navigator.languages) that we have: "de-AT" gives "de"; "en" otherwise.
 */
export function pickLanguage(languages) {
  for (const tag of languages ?? []) {
    const lang = String(tag).toLowerCase().split('-')[0];
    if (lang === 'en' || lang in CATALOGUES) return lang;
  }
  return 'en';
}

let language = pickLanguage(typeof navigator === 'undefined' ? [] : navigator.languages);
// Screen readers pick their voice and hyphenation from <html lang>.
if (typeof document !== 'undefined') document.documentElement.lang = language;

/** The language in use, e.g. "en" or "de". */
export function currentLanguage() {
  return language;
}

/** Switches the language (tests; normally the browser decides). */
export function setLanguage(tag) {
  language = pickLanguage([tag]);
  if (typeof document !== 'undefined') document.documentElement.lang = language;
}

function fill(text, values) {
  if (!values) return text;
  return text.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
}

/** Translates `msgid` and fills its {placeholders} from `values`. */
export function _(msgid, values) {
  const entry = CATALOGUES[language]?.[msgid];
  return fill(typeof entry === 'string' ? entry : msgid, values);
}

/**
 * The singular or plural of a message for `n`, translated; `{n}` is filled
 * with n. The catalogue entry of a plural is an array of forms keyed by the
 * singular English id.
 */
export function ngettext(singular, plural, n, values) {
  const forms = CATALOGUES[language]?.[singular];
  const index = (PLURAL[language] ?? PLURAL.en)(n);
  const text = Array.isArray(forms) ? forms[Math.min(index, forms.length - 1)] : index === 0 ? singular : plural;
  return fill(text, { n, ...values });
}
