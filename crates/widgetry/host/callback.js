/*! The OAuth redirect page (/_widgetry/host/callback): hands `code` + `state` back to the host
 * page that started the sign-in (BroadcastChannel, window.opener, or sessionStorage and a
 * redirect for a same-window sign-in). */
import { $, BASE, CHANNEL, isObj, KEY, store } from './util.js';

function callbackPage() {
  const q = new URLSearchParams(location.search);
  const msg = {
    type: 'widgetry-oauth-callback',
    code: q.get('code'), state: q.get('state'), iss: q.get('iss'),
    error: q.get('error'), error_description: q.get('error_description'),
  };
  const status = () => $('callback-status');
  const say = (t) => { const s = status(); if (s) s.textContent = t; };
  // Take the code out of the address bar and history.
  try { history.replaceState(null, '', location.pathname); } catch (_) { /* ignore */ }
  let acked = false;
  let bc = null;
  try {
    bc = new BroadcastChannel(CHANNEL);
    bc.onmessage = (ev) => {
      const m = ev.data;
      if (!isObj(m) || m.type !== 'widgetry-oauth-ack' || m.state !== msg.state) return;
      acked = true; // the page that started the sign-in has the code
      if (m.phase !== 'done') return;
      say(m.ok === false ? `Sign-in failed: ${m.error || 'unknown error'}` : 'Signed in. You can close this window.');
      if (m.ok !== false) setTimeout(() => { try { window.close(); } catch (_) { /* ignore */ } }, 150);
    };
    bc.postMessage(msg);
  } catch (_) { /* no BroadcastChannel */ }
  try { if (window.opener && window.opener !== window) window.opener.postMessage(msg, location.origin); } catch (_) { /* severed */ }
  say(msg.error ? `The authorization server answered: ${msg.error}${msg.error_description ? ` (${msg.error_description})` : ''}` : 'Finishing sign-in…');
  // No host page listening (same-window sign-in): hand over through sessionStorage.
  setTimeout(() => {
    if (acked) return;
    store.set(KEY.callback, msg);
    location.replace(BASE);
  }, 1500);
}

callbackPage();
