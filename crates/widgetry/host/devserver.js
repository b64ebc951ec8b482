/*! Widgets served live by a dev server (`npm run dev` with the `widgetry/vite` plugin), named
 * in the page URL as `?dev=NAME=URL` (repeatable): the stage renders widget NAME from URL
 * instead of its built resource, so the dev server's hot reload updates it in place. Only
 * loopback http(s) URLs on another origin than the page's are taken: a link cannot point a
 * widget, and the tool calls it may make, at another site, nor frame the page's own origin. */

const LOOPBACK = /^(127\.0\.0\.1|localhost|\[::1\])$/;

/** `NAME=URL` → [name, URL] when NAME is a widget name and URL a loopback http(s) URL. */
export function parseDevServer(spec) {
  const at = String(spec).indexOf('=');
  if (at < 1) return null;
  const name = spec.slice(0, at);
  if (!/^[A-Za-z0-9_-]+$/.test(name)) return null;
  let url;
  try { url = new URL(spec.slice(at + 1)); } catch (_) { return null; }
  if (!/^https?:$/.test(url.protocol) || !LOOPBACK.test(url.hostname) || url.username || url.password) return null;
  if (url.origin === location.origin) return null; // the page's own origin: the frame could reach into the page

  return [name, url];
}

const servers = new Map(
  new URLSearchParams(location.search).getAll('dev').map(parseDevServer).filter(Boolean),
);

/** The widget name in a `ui://widget/NAME-HASH.html` (or `ui://widget/NAME.html`) URI. */
export function widgetName(uri) {
  const m = /^ui:\/\/widget\/(.+?)(-[0-9a-f]{12})?\.html$/.exec(String(uri));
  return m ? m[1] : null;
}

/** The dev server URL for the widget at `uri`, if the page was told of one. */
export function devServerFor(uri) {
  const name = widgetName(uri);
  return name !== null && servers.has(name) ? servers.get(name) : null;
}

/** The widget names served live, for the page to say so. */
export const devWidgets = () => [...servers.keys()];
