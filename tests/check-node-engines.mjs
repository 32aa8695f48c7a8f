// Fails when a package of the web client declares an engines.node range that
// excludes the Node.js we build it with: the oldest one .ci/install-deps
// accepts (NODE_MIN there: Debian 12 ships 18.20) and the node running this.
//
// Every package counts, not only the direct ones: src/web/package-lock.json
// records each package's engines. npm only warns (EBADENGINE) about such a
// package, and then it breaks later, or refuses to start (playwright-core
// >= 1.62 on Node 18), on exactly the machines we promise to support.
//
//   node tests/check-node-engines.mjs [LOCKFILE]     (meson test node-engines)
//
// The ranges are node-semver's; this reads the forms that occur in
// package.json files (>=, >, <, <=, =, ^, ~, x and * ranges, partial
// versions, "a - b", ||) and fails on anything else rather than guess.
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LOCKFILE = process.argv[2] ?? join(ROOT, 'src', 'web', 'package-lock.json');
const INSTALL_DEPS = join(ROOT, '.ci', 'install-deps');

// A version: [major, minor, patch], the parts not given null ("1.2" has no patch).
function parseVersion(text) {
  const m = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(text);
  if (!m) return null;
  const parts = [m[1], m[2], m[3]].map((p) => (p === undefined || /^[xX*]$/.test(p) ? null : Number(p)));
  // Nothing after a wildcard: "1.x.3" is not a version.
  for (let i = 0; i < 2; i++) if (parts[i] === null && parts[i + 1] !== null) return null;
  return { parts, prerelease: m[4] !== undefined };
}

function compare(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

// One comparator as predicates on a release version (we never test a
// prerelease Node, so the prerelease rules reduce to this: a release is
// above every prerelease of its own version).
function comparator(text) {
  const m = /^(<=|>=|<|>|=|\^|~>|~)?(.*)$/.exec(text);
  const op = m[1] ?? '';
  const v = parseVersion(m[2]);
  if (!v) return null;
  const [a, b, c] = v.parts;
  const fill = (p) => p.map((x) => x ?? 0);
  const ge = (lo) => (x) => compare(x, lo) >= 0;
  const lt = (hi) => (x) => compare(x, hi) < 0;
  // The next version above a partial one: 1 -> 2.0.0, 1.2 -> 1.3.0.
  const bump = () => (b === null ? [a + 1, 0, 0] : c === null ? [a, b + 1, 0] : null);
  if (a === null) return op === '<' || op === '>' ? [() => false] : [];
  const partial = b === null || c === null;
  switch (op) {
    case '':
    case '=':
      if (partial) return [ge(fill(v.parts)), lt(bump())];
      return v.prerelease ? [() => false] : [(x) => compare(x, v.parts) === 0];
    case '>=':
      return [ge(fill(v.parts))];
    case '>':
      if (partial) return [ge(bump())];
      return [v.prerelease ? ge(v.parts) : (x) => compare(x, v.parts) > 0];
    case '<':
      return [lt(fill(v.parts))];
    case '<=':
      if (partial) return [lt(bump())];
      return [v.prerelease ? lt(v.parts) : (x) => compare(x, v.parts) <= 0];
    case '~':
    case '~>':
      return [ge(fill(v.parts)), lt(b === null ? [a + 1, 0, 0] : [a, b + 1, 0])];
    case '^': {
      const lo = fill(v.parts);
      let hi;
      if (a > 0 || b === null) hi = [a + 1, 0, 0];
      else if (b > 0 || c === null) hi = [0, b + 1, 0];
      else hi = [0, 0, c + 1];
      return [ge(lo), lt(hi)];
    }
    default:
      return null;
  }
}

// A whole range: a function of a version, or null when it cannot be read.
export function parseRange(range) {
  const sets = [];
  for (let set of String(range).split('||')) {
    set = set.trim().replace(/(<=|>=|<|>|=|\^|~>|~)\s+/g, '$1');
    const tests = [];
    const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(set);
    if (hyphen) {
      const lo = parseVersion(hyphen[1]);
      const hi = parseVersion(hyphen[2]);
      if (!lo || !hi) return null;
      tests.push(...comparator(`>=${hyphen[1]}`), ...comparator(`<=${hyphen[2]}`));
    } else if (set !== '') {
      for (const part of set.split(/\s+/)) {
        const c = comparator(part);
        if (!c) return null;
        tests.push(...c);
      }
    }
    sets.push(tests);
  }
  return (version) => sets.some((tests) => tests.every((t) => t(version)));
}

// The reader checks itself first: a wrong answer here would pass anything.
const SELF_TEST = [
  ['>=18', '18.20.0', true], ['>=20', '18.20.0', false], ['>= 14.16', '18.20.0', true],
  ['^20.19.0 || >=22.12.0', '18.20.0', false], ['^20.19.0 || >=22.12.0', '20.19.0', true],
  ['^20.19.0 || >=22.12.0', '21.0.0', false], ['^18.0.0 || ^20.0.0 || >=22.0.0', '18.20.0', true],
  ['^8.16.0 || ^10.6.0 || >=11.0.0', '18.20.0', true], ['^10 || ^12 || ^13.7 || ^14 || >=15.0.1', '18.20.0', true],
  ['^0.2.3', '0.2.9', true], ['^0.2.3', '0.3.0', false], ['^0.0.3', '0.0.4', false], ['~1.2', '1.3.0', false],
  ['~1.2.3', '1.2.9', true], ['18.x', '18.20.0', true], ['18', '19.0.0', false], ['*', '18.20.0', true],
  ['', '18.20.0', true], ['>18', '18.20.0', false], ['>18.19', '18.20.0', true], ['<=18', '18.20.0', true],
  ['<18.20', '18.20.0', false], ['16 - 18.19', '18.20.0', false], ['16 - 18', '18.20.0', true],
  ['>=18.20.0-0', '18.20.0', true], ['<18.20.0-rc.1', '18.20.0', false], ['>=0.10.0', '18.20.0', true],
  ['>=16 <18.20', '18.20.0', false], ['node >= 18', '18.20.0', null], ['>=18 foo', '18.20.0', null],
];

function selfTest() {
  const wrong = [];
  for (const [range, version, expected] of SELF_TEST) {
    const test = parseRange(range);
    const got = test === null ? null : test(parseVersion(version).parts);
    if (got !== expected) wrong.push(`"${range}" for ${version}: ${got}, expected ${expected}`);
  }
  return wrong;
}

function nodeRanges(engines) {
  if (!engines) return [];
  // Old packages give engines as a list of strings: ["node >= 0.8"].
  if (Array.isArray(engines)) {
    return engines.filter((e) => /^\s*node\b/.test(e)).map((e) => e.replace(/^\s*node\s*/, ''));
  }
  return typeof engines.node === 'string' ? [engines.node] : [];
}

function main() {
  const wrong = selfTest();
  if (wrong.length > 0) {
    console.error(`check-node-engines: the range reader is wrong:\n  ${wrong.join('\n  ')}`);
    return 1;
  }

  const match = /^NODE_MIN=([0-9]+\.[0-9]+\.[0-9]+)\b/m.exec(readFileSync(INSTALL_DEPS, 'utf8'));
  if (!match) {
    console.error(`check-node-engines: no NODE_MIN=X.Y.Z line in ${INSTALL_DEPS}`);
    return 1;
  }
  const targets = [[match[1], 'the oldest .ci/install-deps accepts']];
  if (process.versions.node !== match[1]) targets.push([process.versions.node, 'the node running this check']);

  const lock = JSON.parse(readFileSync(LOCKFILE, 'utf8'));
  if (!lock.packages || typeof lock.packages !== 'object') {
    console.error(`check-node-engines: ${LOCKFILE} has no "packages" (lockfileVersion >= 2 needed)`);
    return 1;
  }

  const problems = [];
  let count = 0;
  for (const [path, pkg] of Object.entries(lock.packages)) {
    if (pkg.link) continue;
    count++;
    const name = path === '' ? `${pkg.name ?? 'the web client'} (package.json)` : path.replace(/^(.*\/)?node_modules\//, '');
    for (const range of nodeRanges(pkg.engines)) {
      const test = parseRange(range);
      if (test === null) {
        problems.push(`${name} ${pkg.version ?? ''}: cannot read engines.node "${range}"`);
        continue;
      }
      const excluded = targets.filter(([version]) => !test(parseVersion(version).parts));
      if (excluded.length > 0) {
        const which = excluded.map(([version, what]) => `${version} (${what})`).join(' and ');
        problems.push(`${name} ${pkg.version ?? ''}: engines.node "${range}" excludes Node ${which}`);
      }
    }
  }

  const inTree = relative(ROOT, LOCKFILE);
  const where = inTree.startsWith('..') ? LOCKFILE : inTree;
  const versions = targets.map(([v, what]) => `${v} (${what})`).join(' and ');
  if (problems.length > 0) {
    console.error(`check-node-engines: ${problems.length} problem(s) in ${where}; pin versions that accept Node ${versions}:`);
    console.error(`  ${problems.join('\n  ')}`);
    return 1;
  }
  console.log(`check-node-engines: all ${count} packages in ${where} accept Node ${versions}`);
  return 0;
}

process.exitCode = main();
