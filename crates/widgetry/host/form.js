/*! Forms generated from a JSON Schema: the tool's input (raw JSON as the fallback) and a server's elicitation. */
import { $, el, isObj } from './util.js';
import { S } from './state.js';

function deref(s, root) {
  for (let i = 0; i < 20 && isObj(s) && typeof s.$ref === 'string'; i++) {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(s.$ref);
    const name = m ? decodeURIComponent(m[2]).replace(/~1/g, '/').replace(/~0/g, '~') : null;
    const target = m && isObj(root) && isObj(root[m[1]]) ? root[m[1]][name] : null;
    if (!isObj(target)) break;
    const rest = Object.assign({}, s);
    delete rest.$ref;
    s = Object.assign({}, target, rest);
  }
  return s;
}

/** What kind of field a property schema gets. */
function fieldKind(schema, root) {
  let s = deref(schema, root);
  if (!isObj(s)) return { kind: 'json', s: {} };
  let nullable = false;
  for (const k of ['anyOf', 'oneOf']) {
    if (!Array.isArray(s[k])) continue;
    const branches = s[k].map((b) => deref(b, root));
    const isNull = (b) => isObj(b) && (b.type === 'null' || b.const === null);
    const rest = branches.filter((b) => !isNull(b));
    if (rest.length === 1) {
      const merged = Object.assign({}, rest[0], { description: s.description || rest[0].description, title: s.title || rest[0].title });
      if ('default' in s) merged.default = s.default;
      const inner = fieldKind(merged, root);
      inner.nullable = inner.nullable || rest.length < branches.length;
      return inner;
    }
    if (rest.length && rest.every((b) => isObj(b) && 'const' in b && ['string', 'number', 'boolean'].includes(typeof b.const))) {
      return { kind: 'enum', values: rest.map((b) => b.const), labels: rest.map((b) => b.title || b.description || String(b.const)), s, nullable: rest.length < branches.length };
    }
    return { kind: 'json', s };
  }
  let type = s.type;
  if (Array.isArray(type)) {
    nullable = type.includes('null');
    const t = type.filter((x) => x !== 'null');
    if (t.length !== 1) return { kind: 'json', s, nullable };
    type = t[0];
  }
  if (Array.isArray(s.enum) && s.enum.length && s.enum.every((v) => v === null || ['string', 'number', 'boolean'].includes(typeof v))) {
    const values = s.enum.filter((v) => v !== null);
    // enumNames: the titles elicitation schemas may give their choices (legacy form).
    const names = Array.isArray(s.enumNames) && s.enumNames.length === s.enum.length ? s.enumNames : null;
    const labels = s.enum.map((v, i) => (names ? String(names[i]) : String(v))).filter((_, i) => s.enum[i] !== null);
    return { kind: 'enum', values, labels, s, nullable: nullable || values.length < s.enum.length };
  }
  if ('const' in s && ['string', 'number', 'boolean'].includes(typeof s.const)) return { kind: 'enum', values: [s.const], labels: [String(s.const)], s, nullable };
  if (['string', 'number', 'integer', 'boolean'].includes(type)) return { kind: type, s, nullable };
  if (type === 'array') {
    const it = fieldKind(s.items || {}, root);
    if (it.kind === 'string' || (it.kind === 'enum' && it.values.every((v) => typeof v === 'string'))) return { kind: 'string-array', s, nullable };
  }
  return { kind: 'json', s, nullable };
}

/**
 * Fields for an object schema, appended to `container` (ids `PREFIX-name`): the tool's
 * input form, and the form of a server's elicitation. `formable` is false when the schema
 * is not a plain object (no fields are added then).
 */
export function buildForm(root, container, prefix) {
  const form = { fields: [], formable: true };
  const props = isObj(root.properties) ? root.properties : {};
  const required = new Set(Array.isArray(root.required) ? root.required : []);
  form.formable = (root.type === undefined || root.type === 'object') && !root.anyOf && !root.oneOf && !root.allOf;
  if (!form.formable) return form;
  for (const [name, schema] of Object.entries(props)) {
    const f = fieldKind(schema, root);
    f.name = name;
    f.required = required.has(name);
    f.id = `${prefix}-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    form.fields.push(f);
    container.append(renderField(f));
  }
  return form;
}

/** The tool's input form. */
let toolForm = { fields: [], formable: true };

export function renderForm(tool) {
  const fs = $('fields');
  fs.replaceChildren(el('legend', { text: 'Input' }));
  const root = isObj(tool && tool.inputSchema) ? tool.inputSchema : { type: 'object' };
  toolForm = buildForm(root, fs, 'f');
  if (toolForm.formable && !toolForm.fields.length) fs.append(el('p', { className: 'hint', text: 'This tool takes no input.' }));
  if (!toolForm.formable) fs.append(el('p', { className: 'hint', text: 'This input schema is too complex for a form: edit the arguments as JSON.' }));
  const forceJson = !toolForm.formable;
  $('json-mode').checked = forceJson || S.jsonMode;
  $('json-mode').disabled = forceJson;
  $('json-input').value = JSON.stringify(defaultArgs(), null, 2);
  applyJsonMode(false);
  showFormError('');
}

function typeLabel(f) {
  const s = f.s || {};
  if (f.kind === 'string-array') return 'string[]';
  if (f.kind === 'enum') return 'enum';
  if (f.kind === 'json') return Array.isArray(s.type) ? s.type.join('|') : (s.type || 'json');
  let t = f.kind;
  if (s.format) t += ` (${s.format})`;
  if (f.nullable) t += ' | null';
  return t;
}

function renderField(f) {
  const s = f.s || {};
  const wrap = el('div', { className: 'field', dataset: { name: f.name, kind: f.kind } });
  const label = el('label', { for: f.id }, s.title && s.title !== f.name ? `${s.title} (${f.name})` : f.name);
  if (f.required) label.append(el('span', { className: 'req', 'aria-hidden': 'true', text: '*' }));
  label.append(el('span', { className: 'type', text: typeLabel(f) }));
  wrap.append(label);
  const hasDefault = 'default' in s && s.default !== null;
  const descId = s.description ? `${f.id}-desc` : null;
  let input;
  const common = { id: f.id, name: f.name, 'aria-describedby': descId, 'aria-required': f.required ? 'true' : null };
  switch (f.kind) {
    case 'boolean':
      if (f.required || hasDefault) {
        input = el('input', Object.assign({ type: 'checkbox' }, common));
        input.checked = s.default === true;
      } else {
        input = el('select', common, el('option', { value: '', text: '— (not set)' }), el('option', { value: 'true', text: 'true' }), el('option', { value: 'false', text: 'false' }));
      }
      break;
    case 'enum':
      input = el('select', common);
      if (!f.required || !hasDefault) input.append(el('option', { value: '', text: f.required ? '— choose —' : '— (not set)' }));
      f.values.forEach((v, i) => input.append(el('option', { value: String(i), text: f.labels[i] })));
      if (hasDefault) { const i = f.values.indexOf(s.default); if (i >= 0) input.value = String(i); }
      break;
    case 'integer':
    case 'number':
      input = el('input', Object.assign({ type: 'number', step: f.kind === 'integer' ? '1' : 'any', min: s.minimum, max: s.maximum, inputmode: f.kind === 'integer' ? 'numeric' : 'decimal' }, common));
      if (hasDefault) input.value = String(s.default);
      break;
    case 'string':
      if ((s.maxLength || 0) > 200 || s.format === 'textarea') input = el('textarea', Object.assign({ rows: 4 }, common));
      else input = el('input', Object.assign({ type: s.format === 'email' ? 'email' : s.format === 'uri' ? 'url' : 'text', maxlength: s.maxLength, minlength: s.minLength, pattern: s.pattern, placeholder: Array.isArray(s.examples) && typeof s.examples[0] === 'string' ? s.examples[0] : null }, common));
      if (hasDefault) input.value = String(s.default);
      break;
    case 'string-array':
      input = el('textarea', Object.assign({ rows: 3, placeholder: 'one value per line' }, common));
      if (Array.isArray(s.default)) input.value = s.default.join('\n');
      break;
    default:
      input = el('textarea', Object.assign({ rows: 4, spellcheck: 'false', placeholder: 'JSON' }, common));
      if ('default' in s) input.value = JSON.stringify(s.default, null, 2);
  }
  wrap.append(input);
  if (s.description) wrap.append(el('p', { className: 'hint', id: descId, text: s.description }));
  f.input = input;
  return wrap;
}

function defaultArgs() {
  const out = {};
  for (const f of toolForm.fields) {
    const s = f.s || {};
    if ('default' in s && s.default !== null) out[f.name] = s.default;
  }
  return out;
}

/** A form's values as an object; throws with every problem found. */
export function formValues(form) {
  const out = {};
  const problems = [];
  for (const f of form.fields) {
    const input = f.input;
    const wrap = input.closest('.field');
    wrap.classList.remove('invalid');
    const bad = (msg) => { problems.push(`${f.name}: ${msg}`); wrap.classList.add('invalid'); };
    const v = input.type === 'checkbox' ? input.checked : input.value;
    switch (f.kind) {
      case 'boolean':
        if (input.type === 'checkbox') out[f.name] = v;
        else if (v !== '') out[f.name] = v === 'true';
        else if (f.required) bad('required');
        break;
      case 'enum':
        if (v !== '') out[f.name] = f.values[Number(v)];
        else if (f.required) bad('choose a value');
        break;
      case 'integer':
      case 'number': {
        const t = String(v).trim();
        if (t === '') { if (f.required) bad('required'); break; }
        const n = Number(t);
        if (!Number.isFinite(n)) bad('not a number');
        else if (f.kind === 'integer' && !Number.isInteger(n)) bad('must be a whole number');
        else out[f.name] = n;
        break;
      }
      case 'string':
        if (v === '') { if (f.required) bad('required'); break; }
        out[f.name] = v;
        break;
      case 'string-array': {
        const items = String(v).split('\n').map((x) => x.trim()).filter(Boolean);
        if (items.length || f.required) out[f.name] = items;
        break;
      }
      default: {
        const t = String(v).trim();
        if (t === '') { if (f.required) bad('required'); break; }
        try { out[f.name] = JSON.parse(t); } catch (e) { bad(`invalid JSON (${e.message})`); }
      }
    }
  }
  if (problems.length) throw new Error(problems.join('\n'));
  return out;
}

function setFormValues(args) {
  const unknown = Object.keys(args).filter((k) => !toolForm.fields.some((f) => f.name === k));
  for (const f of toolForm.fields) {
    const input = f.input;
    const has = Object.prototype.hasOwnProperty.call(args, f.name);
    const v = args[f.name];
    switch (f.kind) {
      case 'boolean':
        if (input.type === 'checkbox') input.checked = v === true;
        else input.value = has && typeof v === 'boolean' ? String(v) : '';
        break;
      case 'enum': { const i = has ? f.values.indexOf(v) : -1; input.value = i >= 0 ? String(i) : ''; break; }
      case 'string-array': input.value = Array.isArray(v) ? v.join('\n') : ''; break;
      case 'json': input.value = has ? JSON.stringify(v, null, 2) : ''; break;
      default: input.value = has && v !== null ? String(v) : '';
    }
  }
  return unknown;
}

export function applyJsonMode(sync) {
  const on = $('json-mode').checked;
  if (sync) {
    if (on) {
      try { $('json-input').value = JSON.stringify(formValues(toolForm), null, 2); showFormError(''); } catch (e) { showFormError(e.message); }
    } else {
      try {
        const args = JSON.parse($('json-input').value || '{}');
        if (!isObj(args)) throw new Error('the arguments must be a JSON object');
        const unknown = setFormValues(args);
        showFormError(unknown.length ? `not in the form (dropped): ${unknown.join(', ')}` : '');
      } catch (e) {
        $('json-mode').checked = true;
        showFormError(`keep editing as JSON: ${e.message}`);
        return;
      }
    }
  }
  S.jsonMode = $('json-mode').checked && toolForm.formable;
  $('json-editor').hidden = !$('json-mode').checked;
  $('fields').hidden = $('json-mode').checked;
}

export function currentArgs() {
  if ($('json-mode').checked) {
    let args;
    try { args = JSON.parse($('json-input').value || '{}'); } catch (e) { throw new Error(`the arguments are not valid JSON: ${e.message}`); }
    if (!isObj(args)) throw new Error('the arguments must be a JSON object');
    return args;
  }
  return formValues(toolForm);
}

export function showFormError(text) {
  const e = $('form-error');
  e.textContent = text || '';
  e.hidden = !text;
}