/*! Host page helpers: DOM building, JSON display, tab storage, base64url, JWT display. */

export const BASE = '/_widgetry/host';
export const VERSION = '0.2.0';
export const CHANNEL = 'widgetry-host-oauth';
export const KEY = {
  prefs: 'widgetry-host:prefs',
  tokens: 'widgetry-host:tokens',
  clients: 'widgetry-host:clients',
  pending: 'widgetry-host:pending:',
  callback: 'widgetry-host:callback',
  resume: 'widgetry-host:resume',
};

export const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
export const $ = (id) => document.getElementById(id);

export function el(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'className') n.className = v;
    else if (k === 'text') n.textContent = v;
    else if (k === 'dataset') Object.assign(n.dataset, v);
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) n.append(c);
  return n;
}

export function compact(v, max = 180) {
  let s;
  try { s = JSON.stringify(v); } catch (_) { s = String(v); }
  if (s === undefined) s = String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** sessionStorage as JSON (this tab only); silent where storage is off. */
export const store = {
  get(key) { try { const s = sessionStorage.getItem(key); return s ? JSON.parse(s) : null; } catch (_) { return null; } },
  set(key, v) { try { sessionStorage.setItem(key, JSON.stringify(v)); } catch (_) { /* storage off */ } },
  del(key) { try { sessionStorage.removeItem(key); } catch (_) { /* storage off */ } },
};

export function b64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
export const randomToken = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

export function utf8FromB64(b64) {
  const bin = atob(b64.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((b64.length + 3) % 4));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/** The payload of a JWT, for display only (never trusted). */
export function jwtClaims(token) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try { const c = JSON.parse(utf8FromB64(parts[1])); return isObj(c) ? c : null; } catch (_) { return null; }
}

/** A server's error in words a user reads: serde's type names and positions translated. */
export function plainError(message) {
  const kinds = { u8: 'a whole number (0–255)', u16: 'a whole number (0–65535)', u32: 'a whole number ≥ 0', u64: 'a whole number ≥ 0', usize: 'a whole number ≥ 0',
    i8: 'a whole number', i16: 'a whole number', i32: 'a whole number', i64: 'a whole number', isize: 'a whole number', f32: 'a number', f64: 'a number',
    'a string': 'text', 'a boolean': 'true or false', 'a sequence': 'a list', 'a map': 'an object' };
  return String(message)
    .replace(/ at line \d+ column \d+/g, '')
    .replace(/\bexpected (u8|u16|u32|u64|usize|i8|i16|i32|i64|isize|f32|f64|a string|a boolean|a sequence|a map)\b/g, (_, k) => `expected ${kinds[k]}`)
    .replace(/invalid type: (\w+) (".*?"|\S+), expected/g, 'got $1 $2; expected')
    .replace(/^invalid params: /i, '')
    .replace(/\s*\(code -?\d+\)$/, '');
}
