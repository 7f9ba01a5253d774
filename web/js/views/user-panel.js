// The user side panel: a modal <aside> over the users view that shows one
// user (user-panel/edit.js, with password, sessions and delete) or the create
// form (user-panel/create.js). This file owns the panel itself: opening,
// closing, focus, Escape and the inert page behind it.
//
// Its parts share one context object, `ctx`:
//   panel, backdrop  the elements, made once per users view
//   hooks            the owner's callbacks: onSaved(user), onCreated(user),
//                    onDeleted(id, {email, silent}), onClose({fromRoute, id, returnFocus})
//   state            null when closed, else {mode: 'edit'|'create', id, user,
//                    etag, returnFocus, ctrl}; ctrl aborts its requests
//   seq              bumped on every open and close; an answer that arrives
//                    for an older seq is dropped
//   close(opts)      closes the panel

import { request, isAbort } from '/admin/js/api.js';
import { h, clear, dialogOpen, trapFocus } from '/admin/js/dom.js';
import { panelHead } from '/admin/js/views/user-panel/head.js';
import { renderEdit, keepUser } from '/admin/js/views/user-panel/edit.js';
import { renderCreate } from '/admin/js/views/user-panel/create.js';

/** Makes the (hidden) panel for a users view; `hooks` as described above. */
export function createPanel(hooks) {
  const ctx = panelContext(hooks);
  const untrap = trapFocus(ctx.panel);
  const onKey = (e) => {
    if (e.key === 'Escape' && ctx.state && !dialogOpen()) {
      e.preventDefault();
      ctx.close();
    }
  };
  document.addEventListener('keydown', onKey);

  return {
    openUser(id, returnFocus = document.activeElement, opts = {}) {
      return openUser(ctx, id, returnFocus, opts);
    },
    openCreate(returnFocus = document.activeElement) {
      openCreate(ctx, returnFocus);
    },
    close(opts) {
      ctx.close(opts);
    },
    get isOpen() { return !!ctx.state; },
    get currentId() { return ctx.state && ctx.state.id; },
    destroy() {
      abortPending(ctx);
      ctx.state = null;
      document.removeEventListener('keydown', onKey);
      untrap();
      setInert(false);
      document.body.classList.remove('has-panel');
      ctx.panel.remove();
      ctx.backdrop.remove();
    },
  };
}

function panelContext(hooks) {
  const backdrop = h('div', { class: 'backdrop', hidden: true });
  const panel = h('aside', {
    id: 'user-panel',
    class: 'panel',
    role: 'dialog',
    'aria-modal': 'true',
    'aria-labelledby': 'user-panel-title',
    tabindex: '-1',
    hidden: true,
  });
  document.body.append(backdrop, panel);
  const ctx = { panel, backdrop, hooks, state: null, seq: 0 };
  ctx.close = (opts) => close(ctx, opts);
  backdrop.addEventListener('click', () => ctx.close());
  return ctx;
}

/** Makes the page behind the panel inert (or live again). */
function setInert(on) {
  const layout = document.querySelector('#app .layout');
  if (layout) layout.inert = on;
}

function show(ctx, returnFocus) {
  if (ctx.panel.hidden) {
    ctx.panel.hidden = false;
    ctx.backdrop.hidden = false;
    setInert(true);
    document.body.classList.add('has-panel');
  }
  if (ctx.state && !ctx.state.returnFocus) ctx.state.returnFocus = returnFocus;
}

function abortPending(ctx) {
  if (ctx.state && ctx.state.ctrl) ctx.state.ctrl.abort();
}

/** Shows user `id` (loading it first); the same user, already shown, stays. */
async function openUser(ctx, id, returnFocus, { notice = '' } = {}) {
  const { panel } = ctx;
  if (ctx.state && ctx.state.mode === 'edit' && ctx.state.id === id && !panel.hidden) return;
  abortPending(ctx);
  const prevFocus = ctx.state && ctx.state.returnFocus;
  ctx.state = { mode: 'edit', id, user: null, etag: null, returnFocus: prevFocus || returnFocus, ctrl: new AbortController() };
  const my = ++ctx.seq;
  clear(panel).append(panelHead('User', ctx.close), h('div', { class: 'panel-body' }, h('p', { class: 'muted loading-text', role: 'status', text: 'Loading user…' })));
  show(ctx, returnFocus);
  panel.focus();
  try {
    const res = await request(`/users/${encodeURIComponent(id)}`, { signal: ctx.state.ctrl.signal });
    if (my !== ctx.seq) return;
    keepUser(ctx.state, res);
    renderEdit(ctx, { notice });
  } catch (e) {
    if (isAbort(e) || my !== ctx.seq) return;
    const msg = e.status === 404 ? 'This user does not exist (it may have been deleted).' : e.detail;
    clear(panel).append(panelHead('User', ctx.close), h('div', { class: 'panel-body' }, h('div', { class: 'alert', role: 'alert', text: msg })));
    if (e.status === 404 && ctx.hooks.onDeleted) ctx.hooks.onDeleted(id, { silent: true });
  }
}

function openCreate(ctx, returnFocus) {
  abortPending(ctx);
  ctx.seq += 1;
  ctx.state = { mode: 'create', id: null, user: null, etag: null, returnFocus, ctrl: new AbortController() };
  renderCreate(ctx);
  show(ctx, returnFocus);
}

/** Hides the panel and hands the focus question to the owner's onClose. */
function close(ctx, { fromRoute = false } = {}) {
  if (!ctx.state) return;
  abortPending(ctx);
  const { returnFocus, id } = ctx.state;
  ctx.state = null;
  ctx.seq += 1;
  ctx.panel.classList.remove('open');
  ctx.panel.hidden = true;
  ctx.backdrop.hidden = true;
  document.body.classList.remove('has-panel');
  setInert(false);
  clear(ctx.panel);
  if (ctx.hooks.onClose) ctx.hooks.onClose({ fromRoute, id, returnFocus });
}
