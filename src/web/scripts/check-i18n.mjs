// Fails when a message of the web client lacks its German translation:
// every _('…') and ngettext('…', '…', n) in src/ (tests aside) needs an
// entry in src/i18n/de/ — a string for _(), an array of forms for
// ngettext() — with the same {placeholders}. A message id must be a string
// literal, or it could not be checked (nor translated). Run by `npm test`
// and `npm run build`.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const STRING = String.raw`(?:'((?:\\.|[^'\\\n])*)'|"((?:\\.|[^"\\\n])*)")`;
const CALL = new RegExp(String.raw`(?<![\w$.])(_|ngettext)\(\s*`, 'g');
const LITERAL = new RegExp(String.raw`^${STRING}`);
const AFTER_SINGULAR = new RegExp(String.raw`^\s*,\s*${STRING}`);

function unescape(text) {
  return text.replace(/\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[\s\S])/g, (whole, escape) => {
    if (escape[0] === 'u' || escape[0] === 'x') {
      return String.fromCodePoint(parseInt(escape.replace(/^[ux]\{?|\}$/g, ''), 16));
    }
    return { n: '\n', t: '\t', r: '\r', 0: '\0' }[escape] ?? escape;
  });
}

const lineOf = (source, index) => source.slice(0, index).split('\n').length;

/**
 * The messages of one source file: [{id, plural, where}], and problems
 * (a call whose id is not a string literal).
 */
export function extract(source, file = '<source>') {
  const messages = [];
  const problems = [];
  for (const match of source.matchAll(CALL)) {
    const start = match.index + match[0].length;
    const where = `${file}:${lineOf(source, match.index)}`;
    const rest = source.slice(start);
    const literal = rest.match(LITERAL);
    if (!literal) {
      problems.push(`${where}: ${match[1]}() needs a string literal as its message id`);
      continue;
    }
    const id = unescape(literal[1] ?? literal[2]);
    if (match[1] === '_') {
      messages.push({ id, plural: null, where });
      continue;
    }
    const second = rest.slice(literal[0].length).match(AFTER_SINGULAR);
    if (!second) {
      problems.push(`${where}: ngettext() needs string literals for the singular and the plural`);
      continue;
    }
    messages.push({ id, plural: unescape(second[1] ?? second[2]), where });
  }
  return { messages, problems };
}

const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

/** Problems of `messages` against a `catalogue` ({id: string | [forms]}) of `language`. */
export function check(messages, catalogue, language = 'de') {
  const problems = [];
  for (const { id, plural, where } of messages) {
    const entry = Object.hasOwn(catalogue, id) ? catalogue[id] : undefined;
    if (entry === undefined) {
      problems.push(`${where}: no ${language} translation for ${JSON.stringify(id)}`);
    } else if (plural === null && typeof entry !== 'string') {
      problems.push(`${where}: the ${language} entry for ${JSON.stringify(id)} must be a string`);
    } else if (plural !== null && (!Array.isArray(entry) || entry.length < 2)) {
      problems.push(`${where}: the ${language} entry for ${JSON.stringify(id)} must be an array of plural forms`);
    } else {
      const wanted = plural === null ? placeholders(id) : [...placeholders(id), ...placeholders(plural)];
      const forms = Array.isArray(entry) ? entry : [entry];
      for (const form of forms) {
        // A singular may say "one" instead of {n}; nothing else may differ.
        const have = placeholders(form);
        const missingOk = plural !== null ? wanted.filter((p) => p !== 'n') : wanted;
        if (!have.every((p) => wanted.includes(p)) || !missingOk.every((p) => have.includes(p))) {
          problems.push(`${where}: the ${language} entry ${JSON.stringify(form)} has other placeholders than ${JSON.stringify(id)}`);
        }
      }
    }
  }
  return problems;
}

function sources(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sources(path));
    else if (/\.(jsx?|mjs)$/.test(entry.name) && !/\.test\.jsx?$/.test(entry.name)) files.push(path);
  }
  return files;
}

async function main() {
  const web = fileURLToPath(new URL('..', import.meta.url));
  const src = join(web, 'src');
  const i18n = join(src, 'i18n', 'index.js');
  const messages = [];
  const problems = [];
  for (const file of sources(src)) {
    if (file === i18n || file.startsWith(join(src, 'i18n', 'de'))) continue;
    const found = extract(readFileSync(file, 'utf8'), relative(web, file));
    messages.push(...found.messages);
    problems.push(...found.problems);
  }
  const deDir = join(src, 'i18n', 'de');
  const { default: de } = await import(pathToFileURL(join(deDir, 'index.js')).href);
  problems.push(...check(messages, de, 'de'));
  // de/index.js spreads the area files into one: an id in two of them
  // would silently lose one translation.
  const seen = new Map();
  for (const name of readdirSync(deDir).filter((n) => n.endsWith('.js') && n !== 'index.js').sort()) {
    const { default: area } = await import(pathToFileURL(join(deDir, name)).href);
    for (const id of Object.keys(area)) {
      if (seen.has(id)) problems.push(`src/i18n/de/${name}: ${JSON.stringify(id)} is also in ${seen.get(id)}`);
      else seen.set(id, name);
    }
    if (!Object.keys(area).every((id) => Object.hasOwn(de, id))) {
      problems.push(`src/i18n/de/${name}: not imported by src/i18n/de/index.js`);
    }
  }
  const used = new Set(messages.map((m) => m.id));
  const unused = Object.keys(de).filter((id) => !used.has(id));
  if (unused.length > 0) console.warn(`check-i18n: ${unused.length} German entries no source uses: ${unused.map((id) => JSON.stringify(id)).join(', ')}`);
  if (problems.length > 0) {
    console.error(`check-i18n: ${problems.length} problems:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`check-i18n: ${used.size} messages, each with a German translation`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
