/*! The host page's log: every step (MCP, bridge, auth) in the page and in `events` for tests. */
import { $, el } from './util.js';

export const events = [];

export function log(kind, summary, detail, opts) {
  const verbose = !!(opts && opts.verbose);
  events.push({ kind, summary, detail, verbose, t: Date.now() });
  const list = $('log');
  if (!list) return;
  const d = new Date();
  const t = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}:${String(d.getSeconds()).padStart(2, '0')}`;
  const li = el('li', { className: verbose ? 'verbose' : '', dataset: { kind } },
    el('span', { className: 't', text: t }), el('span', { className: 'k', text: kind }), summary);
  if (detail !== undefined) {
    let pretty;
    try { pretty = JSON.stringify(detail, null, 2); } catch (_) { pretty = String(detail); }
    if (pretty && pretty.length > 20000) pretty = `${pretty.slice(0, 20000)}\n…`;
    li.append(el('details', {}, el('summary', { text: 'details' }), el('pre', { text: pretty })));
  }
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

export function clearLog() {
  const list = $('log');
  if (list) list.replaceChildren();
  events.length = 0;
}
