// {{title}} widget: renders the result of `{{tool}}` ({title, items: [{id, title, detail,
// done}], viewer?: {name, scopes}}) from `widgetry.toolOutput`, re-renders on every new
// result, and calls the tool again on "Refresh". The widgetry runtime (window.widgetry)
// is injected by the bundler; see crates/widgetry/js/widgetry.d.ts for its API.
(() => {
  'use strict';
  const TOOL = '{{tool}}';
  const $ = (id) => document.getElementById(id);
  const w = window.widgetry;
  let shown = false;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function checkIcon() {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 12 12');
    svg.setAttribute('aria-hidden', 'true');
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', 'M2.5 6.2 5 8.6l4.5-5');
    path.setAttribute('fill', 'none');
    path.setAttribute('stroke', 'currentColor');
    path.setAttribute('stroke-width', '1.8');
    path.setAttribute('stroke-linecap', 'round');
    path.setAttribute('stroke-linejoin', 'round');
    svg.appendChild(path);
    return svg;
  }

  function showError(message) {
    $('w-error').textContent = message || '';
    $('w-error').hidden = !message;
  }

  function textOf(result) {
    const block = result && Array.isArray(result.content) && result.content.find((c) => c && c.type === 'text');
    return block ? block.text : '';
  }

  function render(output) {
    if (!output || !Array.isArray(output.items)) return;
    shown = true;
    $('w').setAttribute('aria-busy', 'false');
    $('w-loading').hidden = true;
    if (typeof output.title === 'string' && output.title) $('w-title').textContent = output.title;
    const items = output.items.filter((i) => i && i.title != null);
    const open = items.filter((i) => !i.done).length;
    $('w-sub').textContent = `${items.length} ${items.length === 1 ? 'item' : 'items'} · ${open} open`;
    $('w-sub').hidden = items.length === 0;
    const viewer = output.viewer;
    $('w-viewer').textContent = viewer ? `Signed in as ${viewer.name}` : '';
    $('w-viewer').hidden = !viewer;
    $('w-empty').hidden = items.length > 0;
    const list = $('w-list');
    list.hidden = items.length === 0;
    list.replaceChildren(...items.map((item) => {
      const li = el('li', 'w-item');
      li.dataset.id = String(item.id);
      li.dataset.done = String(!!item.done);
      const check = el('span', 'w-check');
      check.appendChild(checkIcon());
      const text = el('div');
      text.append(el('span', 'w-item-title', item.title));
      if (item.detail) text.append(el('span', 'w-detail', item.detail));
      text.append(el('span', 'visually-hidden', item.done ? 'Done' : 'Not done'));
      li.append(check, text);
      return li;
    }));
  }

  async function refresh() {
    const button = $('w-refresh');
    button.disabled = true;
    button.classList.add('w-busy');
    try {
      const result = await w.callTool(TOOL, w.toolInput || {});
      if (result.isError) {
        showError(textOf(result) || 'Refreshing failed.');
      } else {
        showError('');
        render(result.structuredContent);
      }
    } catch (e) {
      showError(`Refreshing failed: ${e.message}`);
    } finally {
      button.disabled = false;
      button.classList.remove('w-busy');
    }
  }

  if (!w) {
    $('w-loading').hidden = true;
    showError('The Widgetry runtime is missing from this page.');
    return;
  }
  $('w-refresh').addEventListener('click', refresh);
  w.on('toolresult', (result) => {
    if (result && result.isError) {
      showError(textOf(result) || 'The tool failed.');
      return;
    }
    showError('');
    render(result && result.structuredContent);
  });
  render(w.toolOutput);
  w.ready().then(() => {
    if (w.initError) showError(`Could not reach the host: ${w.initError.message}`);
    if (!shown) render(w.toolOutput);
    if (!shown && w.host === 'none') render({ items: [] }); // a plain page: nothing will arrive
  });
})();
