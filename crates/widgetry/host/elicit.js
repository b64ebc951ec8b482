/*! A server's questions to the user (form elicitation: a server-to-client request inside a
 * session, or a 2026-07-28 input round), asked one at a time on the page's banner. */
import { $, isObj } from './util.js';
import { buildForm, formValues } from './form.js';
import { log } from './log.js';

const queue = [];
let asking = null; // { form, resolve }
let seq = 0;

function showError(text) {
  $('elicit-error').textContent = text || '';
  $('elicit-error').hidden = !text;
}

function next() {
  const q = queue.shift();
  asking = null;
  if (!q) { $('elicit-banner').hidden = true; return; }
  const p = q.params;
  const schema = isObj(p.requestedSchema) ? p.requestedSchema : { type: 'object', properties: {} };
  const box = $('elicit-fields');
  box.replaceChildren();
  const form = buildForm(schema, box, `e${++seq}`);
  $('elicit-message').textContent = typeof p.message === 'string' ? p.message : '';
  $('elicit-accept').disabled = !form.formable;
  showError(form.formable ? '' : 'The server asked with a schema that is not a flat object: only Decline or Cancel can answer it.');
  $('elicit-banner').hidden = false;
  asking = { form, resolve: q.resolve };
  log('elicit', `the server asks: ${p.message || '(no message)'}`, p);
  const first = box.querySelector('input, select, textarea');
  if (first) first.focus();
}

function finish(answer) {
  if (!asking) return;
  const { resolve } = asking;
  log('elicit', `answered ${answer.action}`, answer);
  resolve(answer);
  next();
}

/** Asks the user `params` (an `elicitation/create` request's): `{action, content?}`. */
export function askUser(params) {
  return new Promise((resolve) => {
    queue.push({ params: isObj(params) ? params : {}, resolve });
    if (!asking) next();
  });
}

/** Answers every open question `cancel` (the user cancelled the call that asked). */
export function dismissQuestions() {
  for (const q of queue.splice(0)) q.resolve({ action: 'cancel' });
  finish({ action: 'cancel' });
}

/** Binds the banner's buttons (once, at start-up). */
export function bindQuestions() {
  $('elicit-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (!asking || !asking.form.formable) return;
    let content;
    try { content = formValues(asking.form); } catch (err) { showError(err.message); return; }
    finish({ action: 'accept', content });
  });
  $('elicit-decline').addEventListener('click', () => finish({ action: 'decline' }));
  $('elicit-cancel').addEventListener('click', () => finish({ action: 'cancel' }));
}
