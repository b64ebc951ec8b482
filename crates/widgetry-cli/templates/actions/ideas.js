// Ideas widget: renders `show_ideas` ({ideas: [{id, title, pitch, likes, liked}],
// signedIn}) and likes or unlikes through widget actions. `widgetry.action(name, input)`
// calls the app's action endpoint directly with the widget token from the tool result,
// renews it before it expires, and falls back to the host's callTool.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const w = window.widgetry;
  const state = { ideas: null, signedIn: false };

  function showError(message) {
    $('ix-error').textContent = message || '';
    $('ix-error').hidden = !message;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function render() {
    const ideas = state.ideas;
    $('ix').setAttribute('aria-busy', String(ideas == null));
    $('ix-loading').hidden = ideas != null;
    if (ideas == null) return;
    const total = ideas.reduce((n, i) => n + (i.likes || 0), 0);
    $('ix-sub').textContent = `${ideas.length} ${ideas.length === 1 ? 'idea' : 'ideas'} · ${total} ${total === 1 ? 'like' : 'likes'}`;
    $('ix-signin').hidden = state.signedIn;
    $('ix-list').replaceChildren(...ideas.map((idea) => {
      const li = el('li', 'ix-item');
      li.dataset.id = idea.id;
      const text = el('div', 'ix-text');
      text.append(el('span', 'ix-name', idea.title), el('span', 'ix-pitch', idea.pitch));
      const button = el('button', 'ix-like');
      button.type = 'button';
      button.setAttribute('aria-pressed', String(!!idea.liked));
      button.setAttribute('aria-label', `${idea.liked ? 'Unlike' : 'Like'} ${idea.title}, ${idea.likes} likes`);
      button.append(el('span', 'ix-heart', idea.liked ? '\u2665' : '\u2661'), el('span', '', String(idea.likes)));
      button.addEventListener('click', () => toggle(idea, button));
      li.append(text, button);
      return li;
    }));
  }

  async function toggle(idea, button) {
    button.disabled = true;
    showError('');
    try {
      const r = await w.action(idea.liked ? 'unlike_idea' : 'like_idea', { idea_id: idea.id });
      idea.likes = r.likes;
      idea.liked = r.liked;
      render();
    } catch (e) {
      if (e && e.code === 'signin_required') {
        state.signedIn = false;
        render();
        showError(e.reason === 'scope_lost' ? 'You no longer may like ideas; sign in again.' : 'Sign in to like ideas.');
      } else {
        showError((e && e.message) || 'Something went wrong.');
      }
      button.disabled = false;
    }
  }

  function load(output) {
    if (!output || !Array.isArray(output.ideas)) return;
    state.ideas = output.ideas.map((i) => Object.assign({}, i));
    state.signedIn = !!output.signedIn;
    render();
  }

  if (!w) {
    $('ix-loading').hidden = true;
    showError('The Widgetry runtime is missing from this page.');
    return;
  }
  w.on('toolresult', (r) => load(r && r.structuredContent));
  w.on('auth', () => { state.signedIn = false; render(); });
  load(w.toolOutput);
  w.ready().then(() => {
    if (w.initError) showError(`Could not reach the host: ${w.initError.message}`);
    load(w.toolOutput);
    if (state.ideas == null && w.host === 'none') load({ ideas: [], signedIn: false });
  });
})();
