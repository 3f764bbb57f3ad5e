// Small DOM helpers. Everything is built with createElement/textContent: message text, names and
// notices come from other people and must never be parsed as HTML.

const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'type', 'name',
  'htmlFor', 'min', 'max', 'step', 'required', 'placeholder', 'autocomplete', 'rows', 'href',
  'open', 'multiple', 'accept', 'maxLength', 'minLength', 'tabIndex', 'title', 'spellcheck']);

/** h('button', {class: 'primary', onclick: fn}, 'Text', childNode, null, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function setAttrs(el, attrs) {
  for (const [key, val] of Object.entries(attrs)) {
    if (val === null || val === undefined || val === false && !PROPS.has(key)) continue;
    if (key === 'class') el.className = val;
    else if (key === 'text') el.textContent = val;
    else if (key === 'for') el.htmlFor = val;
    else if (key.startsWith('on') && typeof val === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), val);
    } else if (key === 'dataset') Object.assign(el.dataset, val);
    else if (PROPS.has(key)) el[key] = val;
    else el.setAttribute(key, val === true ? '' : String(val));
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false || c === '') continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

let uid = 0;
/** A unique id for label/aria wiring. */
export function nextId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled field: returns {wrap, input}. kind: 'input' | 'textarea' | 'select'. */
export function field(label, kind, attrs = {}, hint = null) {
  const id = attrs.id || nextId();
  const input = h(kind, {...attrs, id});
  const hintEl = hint ? h('p', {class: 'hint', id: `${id}-hint`}, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  const wrap = h('div', {class: 'field'}, h('label', {for: id}, label), hintEl, input);
  return {wrap, input, hint: hintEl};
}

/** A checkbox with its label after it. */
export function checkbox(label, attrs = {}) {
  const id = attrs.id || nextId();
  const input = h('input', {...attrs, id, type: 'checkbox'});
  const wrap = h('div', {class: 'check'}, input, h('label', {for: id}, label));
  return {wrap, input};
}

/** A place for one plain sentence of error, announced to screen readers. */
export function errorSlot(id) {
  return h('p', {class: 'error', role: 'alert', id, hidden: true});
}

export function showIn(slot, message) {
  if (!slot) return;
  slot.textContent = message || '';
  slot.hidden = !message;
}

/** Disables a button while an async action runs. */
export async function busy(button, fn) {
  if (button) button.disabled = true;
  try {
    return await fn();
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}

/** Replaces el's children (null/false children are skipped, unlike Element.append). */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}
