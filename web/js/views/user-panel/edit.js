// The panel for one user: its details, the form (saved as a merge PATCH of the
// changed fields with If-Match), and the groups, email, password, sessions and
// delete parts.

import { request, isAbort } from '/admin/js/api.js';
import { h, clear, busy, showFieldErrors, problemText, timeEl } from '/admin/js/dom.js';
import { buildForm, readForm, fillForm, checkForm } from '/admin/js/views/user-panel/form.js';
import { patchFor } from '/admin/js/views/user-panel/patch.js';
import { panelHead } from '/admin/js/views/user-panel/head.js';
import { groupsSection } from '/admin/js/views/user-panel/groups.js';
import { mailSection } from '/admin/js/views/user-panel/mail.js';
import { passwordSection } from '/admin/js/views/user-panel/password.js';
import { sessionsSection } from '/admin/js/views/user-panel/sessions.js';
import { mfaSection } from '/admin/js/views/user-panel/mfa.js';
import { dangerSection } from '/admin/js/views/user-panel/delete.js';

/** Keeps a fetched or saved user, and its ETag, in the panel's state. */
export function keepUser(state, res) {
  state.user = res.data;
  state.etag = res.etag || `"${res.data.version}"`;
}

/**
 * Fills the panel of context `ctx` (see user-panel.js) with `ctx.state.user`.
 * `flash` shows as an alert over the form, `notice` as a passing status.
 */
export function renderEdit(ctx, { flash = '', notice = '' } = {}) {
  const user = ctx.state.user;
  // What saving needs; `my` drops answers that arrive after the panel moved on.
  const ed = { ctx, user, my: ctx.seq, f: buildForm('edit', user, () => ctx.close()) };
  ed.title = panelHead(user.name || user.email, () => ctx.close());
  ed.f.form.addEventListener('submit', (e) => {
    e.preventDefault();
    save(ed);
  });
  ed.metaBox = meta(user);
  ed.mailBox = mailSection(ctx, user);
  const body = h('div', { class: 'panel-body' },
    ed.metaBox,
    ed.f.form,
    groupsSection(ctx, user),
    ed.mailBox,
    passwordSection(ctx, user),
    mfaSection(ctx, user),
    sessionsSection(ctx, user),
    dangerSection(ctx));
  clear(ctx.panel).append(ed.title, body);
  if (flash) ed.f.alert.show(flash);
  if (notice) ed.f.status.flash(notice);
  if (!ctx.panel.contains(document.activeElement) || document.activeElement === ctx.panel) {
    ed.f.inputs.name.focus();
  }
}

function meta(user) {
  const idCode = h('code', { class: 'mono select-all', text: user.id });
  return h('dl', { class: 'meta' },
    h('div', {}, h('dt', { text: 'ID' }), h('dd', {}, idCode)),
    h('div', {}, h('dt', { text: 'Created' }), h('dd', {}, timeEl(user.created_at, true))),
    h('div', {}, h('dt', { text: 'Updated' }), h('dd', {}, timeEl(user.updated_at, true))),
    h('div', {}, h('dt', { text: 'Version' }), h('dd', { text: String(user.version) })));
}

async function save(ed) {
  const { ctx, f, my } = ed;
  const v = readForm(f);
  if (!checkForm(f, v)) return;
  const cur = ctx.state.user;
  const patch = patchFor(cur, v);
  if (!Object.keys(patch).length) {
    f.status.flash('No changes to save.');
    return;
  }
  await busy(f.submit, async () => {
    try {
      const res = await request(`/users/${encodeURIComponent(cur.id)}`, {
        method: 'PATCH',
        body: patch,
        headers: { 'If-Match': ctx.state.etag },
        signal: ctx.state.ctrl.signal,
      });
      if (my !== ctx.seq) return;
      saved(ed, res);
    } catch (err) {
      if (isAbort(err) || my !== ctx.seq) return;
      await saveFailed(ed, cur, err);
    }
  });
}

function saved(ed, res) {
  const { ctx, f } = ed;
  keepUser(ctx.state, res);
  fillForm(f, res.data);
  ed.title.querySelector('.panel-title').textContent = res.data.name || res.data.email;
  const fresh = meta(res.data);
  ed.metaBox.replaceWith(fresh);
  ed.metaBox = fresh;
  // The email part follows the saved user: its address, and whether that is
  // verified, may have changed.
  const mail = mailSection(ctx, res.data);
  ed.mailBox.replaceWith(mail);
  ed.mailBox = mail;
  f.status.flash('Changes saved.');
  if (ctx.hooks.onSaved) ctx.hooks.onSaved(res.data);
}

async function saveFailed(ed, cur, err) {
  const { ctx, f } = ed;
  if (err.status === 412) {
    await reload(ed, 'This user was changed elsewhere since you opened it. The latest version is shown now; make your changes again.');
    return;
  }
  if (err.status === 404) {
    f.alert.show('This user no longer exists.');
    if (ctx.hooks.onDeleted) ctx.hooks.onDeleted(cur.id, { silent: true });
    return;
  }
  const left = showFieldErrors(f.form, err.errors);
  f.alert.show(problemText(err, left));
}

/** Shows the latest version of the user, with `message` over the form. */
async function reload({ ctx, user, my, f }, message) {
  try {
    const res = await request(`/users/${encodeURIComponent(user.id)}`, { signal: ctx.state.ctrl.signal });
    if (my !== ctx.seq) return;
    keepUser(ctx.state, res);
    if (ctx.hooks.onSaved) ctx.hooks.onSaved(res.data);
    renderEdit(ctx, { flash: message });
    ctx.panel.querySelector('#user-form [name="name"]').focus();
  } catch (err) {
    if (isAbort(err) || my !== ctx.seq) return;
    f.alert.show(err.status === 404 ? 'This user was deleted elsewhere.' : err.detail);
    if (err.status === 404 && ctx.hooks.onDeleted) ctx.hooks.onDeleted(user.id, { silent: true });
  }
}
