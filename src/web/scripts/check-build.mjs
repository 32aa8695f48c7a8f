// Fails the build when dist/index.html would break under munityd's
// Content-Security-Policy (script-src 'self'; style-src 'self'): no inline
// script, no inline style, no style attribute, no external origin.
import { readFileSync } from 'node:fs';

const html = readFileSync(new URL('../dist/index.html', import.meta.url), 'utf8');
const problems = [];

for (const match of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
  if (!/\bsrc=/.test(match[1])) problems.push(`inline script: ${match[0].slice(0, 80)}`);
  else if (match[2].trim() !== '') problems.push('a script element with both src and content');
}
if (/<style\b/i.test(html)) problems.push('an inline <style> element');
if (/\sstyle=/i.test(html)) problems.push('a style attribute');
if (/\son[a-z]+=/i.test(html)) problems.push('an inline event handler attribute');
for (const match of html.matchAll(/\b(?:src|href)="([^"]*)"/gi)) {
  if (!match[1].startsWith('/') || match[1].startsWith('//')) problems.push(`not a same-origin path: ${match[1]}`);
}
if (!/<script type="module"[^>]* src="\/assets\/[^"]+\.js"/.test(html)) problems.push('no hashed entry script under /assets/');

if (problems.length > 0) {
  console.error(`dist/index.html does not fit the CSP:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('dist/index.html: no inline script or style; every URL same-origin');
