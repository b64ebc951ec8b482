// List widget: renders toolOutput {title, items: [{id, title, subtitle?, done?}]}.
// "Details" calls the `item_details` tool; "Refresh" calls `show_list` again.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const main = $('wl');
  const titleEl = $('wl-title');
  const countEl = $('wl-count');
  const listEl = $('wl-list');
  const loadingEl = $('wl-loading');
  const errorEl = $('wl-error');
  const emptyEl = $('wl-empty');
  const refreshBtn = $('wl-refresh');

  const w = window.widgetry;
  // id -> { state: 'loading' | 'ok' | 'error', text, open }
  const details = new Map();
  let current = null;
  let restored = false;

  function showError(message) {
    errorEl.textContent = message || '';
    errorEl.hidden = !message;
  }

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

  function detailText(result) {
    const sc = result && result.structuredContent;
    if (sc && typeof sc.detail === 'string') return sc.detail;
    const block = result && Array.isArray(result.content) && result.content.find((c) => c && c.type === 'text');
    return block ? block.text : '';
  }

  function renderDetail(item, region, button) {
    const d = details.get(item.id);
    const open = !!(d && d.open);
    button.setAttribute('aria-expanded', String(open));
    button.disabled = !!(d && d.state === 'loading');
    region.hidden = !open;
    if (!open) return;
    region.dataset.state = d.state;
    region.textContent = d.state === 'loading' ? 'Loading details…' : d.text;
  }

  function saveOpen() {
    const open = [...details].filter(([, d]) => d.open).map(([id]) => id);
    w.setWidgetState(Object.assign({}, w.widgetState, { open })).catch(() => {});
  }

  async function toggleDetails(item, region, button) {
    const d = details.get(item.id);
    if (d && d.state !== 'error' && d.state !== 'loading') {
      d.open = !d.open;
      renderDetail(item, region, button);
      saveOpen();
      return;
    }
    if (d && d.state === 'loading') return;
    await loadDetails(item, region, button);
    saveOpen();
  }

  async function loadDetails(item, region, button) {
    details.set(item.id, { state: 'loading', text: '', open: true });
    renderDetail(item, region, button);
    let next;
    try {
      const result = await w.callTool('item_details', { id: item.id });
      next = result.isError
        ? { state: 'error', text: detailText(result) || 'Could not load the details.', open: true }
        : { state: 'ok', text: detailText(result) || 'No details.', open: true };
    } catch (e) {
      next = { state: 'error', text: `Could not load the details: ${e.message}`, open: true };
    }
    // The list may have been re-rendered meanwhile: update whatever nodes show this item now.
    details.set(item.id, next);
    const li = listEl.querySelector(`li[data-id="${CSS.escape(item.id)}"]`);
    if (li) renderDetail(item, li.querySelector('.wl-detail'), li.querySelector('.wl-details-btn'));
  }

  function renderItem(item, index) {
    const li = el('li', 'wl-item');
    li.dataset.id = item.id;
    li.dataset.done = String(!!item.done);

    const check = el('span', 'wl-check');
    check.appendChild(checkIcon());
    li.appendChild(check);

    const text = el('div', 'wl-text');
    const title = el('span', 'wl-item-title', item.title);
    title.id = `wl-item-${index}`;
    text.appendChild(title);
    if (item.subtitle) text.appendChild(el('span', 'wl-sub', item.subtitle));
    text.appendChild(el('span', 'visually-hidden', item.done ? 'Done' : 'Not done'));
    li.appendChild(text);

    const button = el('button', 'wl-btn wl-details-btn', 'Details');
    button.type = 'button';
    const region = el('p', 'wl-detail');
    region.id = `wl-detail-${index}`;
    region.setAttribute('aria-live', 'polite');
    button.setAttribute('aria-controls', region.id);
    button.setAttribute('aria-describedby', title.id);
    button.addEventListener('click', () => toggleDetails(item, region, button));
    li.appendChild(button);
    li.appendChild(region);
    renderDetail(item, region, button);
    return li;
  }

  function render(output) {
    current = output;
    main.setAttribute('aria-busy', output == null ? 'true' : 'false');
    loadingEl.hidden = output != null;
    if (output == null) {
      listEl.hidden = emptyEl.hidden = true;
      return;
    }
    const items = Array.isArray(output.items) ? output.items.filter((i) => i && i.id != null) : null;
    titleEl.textContent = typeof output.title === 'string' && output.title ? output.title : 'List';
    if (!items) {
      listEl.hidden = emptyEl.hidden = countEl.hidden = true;
      showError('This result has no list to show.');
      return;
    }
    for (const item of items) item.id = String(item.id);
    const open = items.filter((i) => !i.done).length;
    countEl.textContent = `${items.length} ${items.length === 1 ? 'item' : 'items'} · ${open} open`;
    countEl.hidden = items.length === 0;
    emptyEl.hidden = items.length > 0;
    listEl.hidden = items.length === 0;
    listEl.replaceChildren(...items.map(renderItem));
    if (!restored) {
      restored = true;
      const state = w.widgetState;
      const ids = state && Array.isArray(state.open) ? state.open : [];
      for (const li of listEl.children) {
        if (ids.includes(li.dataset.id)) li.querySelector('.wl-details-btn').click();
      }
    }
  }

  async function refresh() {
    refreshBtn.disabled = true;
    refreshBtn.classList.add('wl-busy');
    refreshBtn.setAttribute('aria-label', 'Refreshing');
    try {
      const result = await w.callTool('show_list', w.toolInput || {});
      if (result.isError) {
        showError(detailText(result) || 'Refreshing the list failed.');
      } else {
        showError('');
        details.clear();
        render(result.structuredContent ?? null);
      }
    } catch (e) {
      showError(`Refreshing the list failed: ${e.message}`);
    } finally {
      refreshBtn.disabled = false;
      refreshBtn.classList.remove('wl-busy');
      refreshBtn.removeAttribute('aria-label');
    }
  }

  if (!w) {
    loadingEl.hidden = true;
    showError('The Widgetry runtime is missing from this page.');
    return;
  }

  refreshBtn.addEventListener('click', refresh);
  w.on('toolresult', (result) => {
    if (result && result.isError) {
      showError(detailText(result) || 'The tool failed.');
      return;
    }
    // Hosts may also report results of other tools (e.g. item_details): only lists re-render.
    const output = result && result.structuredContent;
    if (!output || !Array.isArray(output.items)) return;
    showError('');
    render(output);
  });
  render(w.toolOutput);
  w.ready().then(() => {
    if (w.initError) showError(`Could not reach the host: ${w.initError.message}`);
    if (current == null && w.toolOutput != null) render(w.toolOutput);
    else if (current == null && w.host === 'none') render({ items: [] }); // nothing will arrive
  });
})();
