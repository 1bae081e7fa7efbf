/**
 * GraphiQL through the real daemon: the page at GET /graphql loads nothing from another host (a server is
 * usually offline), and whatever it references is served by the daemon itself.
 */
import test from 'ava';
import { renderGraphiQL as yogaDefaultPage } from 'graphql-yoga';
import { killedAfterwards } from '../helpers/daemon.js';

const startDaemon = killedAfterwards(test);

/**
 * What a browser fetches to show a page: <script src>, <link href>, <img src>, <iframe src>, and url() or @import
 * in <style>. Script and style bodies are raw text to an HTML parser, so tags inside them are not tags.
 */
function references(html: string): string[] {
  const refs: string[] = [];
  const bodies = /<(script|style)\b([^>]*)>([\s\S]*?)<\/\1\s*>/gi;
  for (const [, tag, , body] of html.matchAll(bodies)) {
    if (tag.toLowerCase() === 'style') for (const [, , url] of body.matchAll(/(url\(\s*|@import\s+)["']?([^"')\s;]+)/g)) refs.push(url);
  }
  const outside = html.replace(bodies, (_, tag: string, attrs: string) => `<${tag}${attrs}>`);
  for (const [, attrs] of outside.matchAll(/<(?:script|link|img|iframe)\b([^>]*)>/gi)) {
    const m = /\b(?:src|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(attrs);
    if (m) refs.push(m[1] ?? m[2] ?? m[3]);
  }
  return refs;
}

const external = (refs: string[], page: URL) => refs.map((r) => new URL(r, page)).filter((u) => u.protocol !== 'data:' && u.origin !== page.origin);

test("the checker sees yoga's default page load from a CDN (what the daemon no longer serves)", (t) => {
  const page = new URL('http://127.0.0.1:4000/graphql');
  const hosts = new Set(external(references(yogaDefaultPage({})), page).map((u) => u.host));
  t.true(hosts.has('unpkg.com'), [...hosts].join(', '));
});

test('GET /graphql (a browser) gets GraphiQL with every script and style from the daemon, nothing from a CDN', async (t) => {
  const d = await startDaemon();
  const page = new URL(d.url);
  const res = await fetch(page, { headers: { accept: 'text/html' } });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /text\/html/);
  const html = await res.text();
  t.regex(html, /YogaGraphiQL\.renderYogaGraphiQL/, 'the GraphiQL bundle itself is in the page');
  const refs = references(html);
  t.true(refs.length > 0, 'the page references its icon at least');
  t.deepEqual(
    external(refs, page).map((u) => u.href),
    [],
  );
  t.false(/unpkg\.com|cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com/.test(html), 'no CDN host anywhere in the page');
  // Anything referenced on the daemon itself must be served (data: URLs travel inside the page).
  for (const url of refs.map((r) => new URL(r, page)).filter((u) => u.origin === page.origin)) {
    t.is((await fetch(url)).status, 200, url.href);
  }
  // A second request is served from the page built once.
  t.is(await (await fetch(page, { headers: { accept: 'text/html' } })).text(), html);
});
