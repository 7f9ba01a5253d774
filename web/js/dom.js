// Small DOM helpers: element builder, icons, formatting, highlights,
// the shared confirmation dialog and form error display.

const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'indeterminate']);

/** h('button', {class: 'btn', onclick: fn, text: 'Save'}, ...children) */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) {
      if (PROPS.has(k)) el[k] = false;
      continue;
    }
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// --- icons ---------------------------------------------------------------------

const ICONS = {
  users: 'M16 19v-1a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v1M9 10a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7M22 19v-1a4 4 0 0 0-3-3.87M16 3.13a4 4 0 0 1 0 7.75',
  group: 'M12 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM7 20v-1a4 4 0 0 1 4-4h2a4 4 0 0 1 4 4v1M5.5 6a2.5 2.5 0 0 0 0 5M18.5 6a2.5 2.5 0 0 1 0 5M2 19v-1a3 3 0 0 1 3-3M22 19v-1a3 3 0 0 0-3-3',
  key: 'M15.5 7.5 19 4m2-2-2 2 3 3-3.5 3.5-3-3M11.4 12.6a5 5 0 1 1-7.07 7.07 5 5 0 0 1 7.07-7.07z',
  audit: 'M9 5h11M9 12h11M9 19h11M4 5h.01M4 12h.01M4 19h.01',
  dashboard: 'M3 3h7v9H3zM14 3h7v5h-7zM14 12h7v9h-7zM3 16h7v5H3z',
  plus: 'M12 5v14M5 12h14',
  close: 'M18 6 6 18M6 6l12 12',
  logout: 'M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9',
  copy: 'M9 9h11v11H9zM5 15H4V4h11v1',
  search: 'M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14zM21 21l-5-5',
  doc: 'M14 3H6a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9zM14 3v6h6M8 13h8M8 17h5',
  refresh: 'M21 12a9 9 0 1 1-3-6.7L21 8M21 3v5h-5',
  trash: 'M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6',
  check: 'M20 6 9 17l-5-5',
  webhook: 'M13 2 4 14h7l-1 8 9-12h-7z',
  alert: 'M12 3 2 20h20zM12 10v4M12 17h.01',
  shield: 'M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10zM9 12l2 2 4-4',
};

export function icon(name, cls = 'icon') {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', ICONS[name] || '');
  svg.append(path);
  return svg;
}

// --- formatting --------------------------------------------------------------

const numberFmt = new Intl.NumberFormat();
const msFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });

export const fmtNumber = (n) => numberFmt.format(Number(n) || 0);
export const fmtMs = (n) => msFmt.format(Number(n) || 0);

function toDate(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function fmtDate(iso) {
  const d = toDate(iso);
  return d ? dateFmt.format(d) : '—';
}

export function fmtDateTime(iso) {
  const d = toDate(iso);
  return d ? dateTimeFmt.format(d) : '—';
}

/** A <time> element with the short form shown and the full one as a tooltip. */
export function timeEl(iso, withTime = false) {
  const d = toDate(iso);
  if (!d) return h('span', { class: 'muted', text: '—' });
  return h('time', {
    datetime: iso,
    title: fullFmt.format(d),
    text: withTime ? dateTimeFmt.format(d) : dateFmt.format(d),
  });
}

export function fmtBytes(n) {
  let v = Number(n) || 0;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  const f = new Intl.NumberFormat(undefined, { maximumFractionDigits: i === 0 ? 0 : 1 });
  return `${f.format(v)} ${units[i]}`;
}

export function fmtDuration(seconds) {
  let s = Math.max(0, Math.floor(Number(seconds) || 0));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hr = Math.floor(s / 3600);
  s -= hr * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${m} min`;
  if (m) return `${m} min ${s} s`;
  return `${s} s`;
}

export function plural(n, one, many) {
  return `${fmtNumber(n)} ${Number(n) === 1 ? one : many}`;
}

// --- search highlights ---------------------------------------------------------

const parser = new DOMParser();

/**
 * Renders a server highlight ("Ada <mark>Love</mark>lace", already escaped)
 * as text and <mark> nodes only; any other markup is reduced to its text.
 */
export function highlighted(html) {
  const frag = document.createDocumentFragment();
  const doc = parser.parseFromString(`<body>${String(html)}</body>`, 'text/html');
  const walk = (node) => {
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        frag.append(document.createTextNode(child.data));
      } else if (child.nodeType === Node.ELEMENT_NODE) {
        if (child.tagName === 'MARK') frag.append(h('mark', { text: child.textContent }));
        else walk(child);
      }
    }
  };
  walk(doc.body);
  return frag;
}

// --- misc --------------------------------------------------------------------

export function debounce(fn, ms) {
  let t = 0;
  const wrapped = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(t);
  return wrapped;
}

/** Disables a button while `work` runs; returns work's result. */
export async function busy(button, work) {
  const buttons = Array.isArray(button) ? button : [button];
  buttons.forEach((b) => {
    if (b) {
      b.disabled = true;
      b.setAttribute('aria-busy', 'true');
    }
  });
  try {
    return await work();
  } finally {
    buttons.forEach((b) => {
      if (b) {
        b.disabled = false;
        b.removeAttribute('aria-busy');
      }
    });
  }
}

export function badge(text, kind = '') {
  return h('span', { class: ['badge', kind && `badge-${kind}`], text });
}

/** An alert box (role=alert) that can be shown with a message or hidden. */
export function alertBox(extraClass = '') {
  const el = h('div', { class: ['alert', extraClass], role: 'alert', hidden: true });
  el.show = (msg) => {
    el.textContent = msg;
    el.hidden = !msg;
  };
  el.hide = () => el.show('');
  return el;
}

/** A status message (role=status) that fades after a few seconds. */
export function statusBox(extraClass = '') {
  const el = h('div', { class: ['notice', extraClass], role: 'status' });
  let t = 0;
  el.flash = (msg, ms = 4000) => {
    clearTimeout(t);
    el.textContent = msg;
    el.classList.add('visible');
    if (ms) {
      t = setTimeout(() => {
        el.classList.remove('visible');
        el.textContent = '';
      }, ms);
    }
  };
  el.clear = () => {
    clearTimeout(t);
    el.classList.remove('visible');
    el.textContent = '';
  };
  return el;
}

// --- form fields and their errors --------------------------------------------

let fieldSeq = 0;

/**
 * A labelled field: returns {wrap, input, error}. `control` is the input
 * element (its id is set here); the error element has class field-error.
 */
export function field(labelText, control, { hint, errorFor } = {}) {
  fieldSeq += 1;
  const id = control.id || `f${fieldSeq}-${control.name || 'field'}`;
  control.id = id;
  const error = h('p', {
    class: 'field-error',
    id: `${id}-error`,
    hidden: true,
    dataset: { field: errorFor || control.name || '' },
  });
  const describedBy = [`${id}-error`];
  let hintEl = null;
  if (hint) {
    hintEl = h('p', { class: 'hint', id: `${id}-hint`, text: hint });
    describedBy.push(`${id}-hint`);
  }
  control.setAttribute('aria-describedby', describedBy.join(' '));
  const wrap = h('div', { class: 'field' }, h('label', { for: id, text: labelText }), control, hintEl, error);
  return { wrap, input: control, error };
}

/** Shows one field's error (or clears it with an empty message). */
export function setFieldError(errorEl, message, input) {
  errorEl.textContent = message || '';
  errorEl.hidden = !message;
  if (input) {
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

export function clearFieldErrors(form) {
  form.querySelectorAll('.field-error').forEach((e) => {
    e.textContent = '';
    e.hidden = true;
  });
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
}

/**
 * Puts a problem's per-field errors next to their fields (matched by the
 * error element's data-field). Returns the messages that found no field.
 */
export function showFieldErrors(form, errors) {
  const leftovers = [];
  let first = null;
  for (const { field: name, message } of errors || []) {
    const top = String(name || '').split(/[.[/]/)[0];
    const el = form.querySelector(`.field-error[data-field="${CSS.escape(name)}"]`) ||
      form.querySelector(`.field-error[data-field="${CSS.escape(top)}"]`);
    if (!el) {
      leftovers.push(`${name}: ${message}`);
      continue;
    }
    const prev = el.hidden ? '' : `${el.textContent}; `;
    const input = form.querySelector(`[name="${CSS.escape(el.dataset.field)}"]`);
    setFieldError(el, `${prev}${capitalise(message)}`, input);
    if (!first) first = input;
  }
  if (first && typeof first.focus === 'function') first.focus();
  return leftovers;
}

function capitalise(s) {
  s = String(s || '');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The message to show for a failed action, with leftover field errors. */
export function problemText(e, leftovers = []) {
  if (!e) return '';
  const base = e.detail || e.message || 'Something went wrong.';
  if (e.status === 429 && e.retryAfter) return `${base} Try again in ${fmtDuration(e.retryAfter)}.`;
  if (e.status === 422 && leftovers.length) return `${base} ${leftovers.join('; ')}`;
  if (e.status === 422 && e.errors && e.errors.length && !leftovers.length) {
    return 'Please correct the highlighted fields.';
  }
  return base;
}

// --- the confirmation dialog -----------------------------------------------------

/**
 * Asks for confirmation in the shared <dialog id="confirm-dialog">; resolves
 * true when #confirm-ok is chosen. Escape or Cancel resolve false.
 */
export function confirmDialog({ title, message, ok = 'Delete', danger = true }) {
  const dialog = document.getElementById('confirm-dialog');
  const titleEl = document.getElementById('confirm-title');
  const msgEl = document.getElementById('confirm-message');
  const okBtn = document.getElementById('confirm-ok');
  const cancelBtn = document.getElementById('confirm-cancel');
  const opener = document.activeElement;
  titleEl.textContent = title;
  msgEl.textContent = message || '';
  msgEl.hidden = !message;
  okBtn.textContent = ok;
  okBtn.className = danger ? 'btn btn-danger' : 'btn btn-primary';
  return new Promise((resolve) => {
    const done = (value) => {
      okBtn.removeEventListener('click', onOk);
      cancelBtn.removeEventListener('click', onCancel);
      dialog.removeEventListener('close', onClose);
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      resolve(value);
    };
    const onOk = () => done(true);
    const onCancel = () => done(false);
    const onClose = () => done(false);
    okBtn.addEventListener('click', onOk);
    cancelBtn.addEventListener('click', onCancel);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    cancelBtn.focus();
  });
}

export function dialogOpen() {
  const d = document.getElementById('confirm-dialog');
  return !!(d && d.open);
}

/** Keeps Tab focus inside `container`. Returns a remover. */
export function trapFocus(container) {
  const onKey = (e) => {
    if (e.key !== 'Tab') return;
    const items = [...container.querySelectorAll(
      'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])',
    )].filter((el) => el.offsetParent !== null || el === document.activeElement);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && (document.activeElement === first || !container.contains(document.activeElement))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (document.activeElement === last || !container.contains(document.activeElement))) {
      e.preventDefault();
      first.focus();
    }
  };
  container.addEventListener('keydown', onKey);
  return () => container.removeEventListener('keydown', onKey);
}
