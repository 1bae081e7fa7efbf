/**
 * GraphiQL from this package's own files. Yoga's default page loads its scripts, styles and editor workers
 * from unpkg.com, so on a server without internet access (the usual case) it never loads.
 * @graphql-yoga/render-graphiql bundles them: its page carries them inline and its icon as a data: URL, so
 * the browser fetches nothing but the page. The bundle is about 9 MB of JavaScript: imported when the page
 * is first asked for, not at every daemon start, and the page is built once per set of options.
 */
import type { GraphiQLOptions } from 'graphql-yoga';

let page: { key: string; html: string } | undefined;

export async function renderLocalGraphiQL(opts: GraphiQLOptions): Promise<string> {
  const key = JSON.stringify(opts);
  if (page?.key !== key) {
    const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
    page = { key, html: renderGraphiQL(opts) };
  }
  return page.html;
}
