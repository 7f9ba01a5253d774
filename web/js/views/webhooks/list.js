// The Webhooks page's list: one card per endpoint (a table has no room for
// the failing warning and five actions), with its state, backlog and the
// actions Deliveries, Send test, Rotate secret, Enable/Disable and Delete.
// An action's answer is the endpoint as it is now, so its card is rebuilt
// from it in place.

import { api, request, isAbort } from '/admin/js/api.js';
import { h, clear, icon, timeEl, badge, busy, confirmDialog, plural, fmtNumber } from '/admin/js/dom.js';
import { showSecret } from '/admin/js/views/webhooks/form.js';

/** The state badge: failing (roster gave up, or is still trying), enabled, disabled. */
export function stateBadge(hook) {
  if (hook.disabled_reason === 'failing') return badge('disabled: failing', 'warn');
  if (!hook.enabled) return badge('disabled', 'off');
  if (hook.failing_since) return badge('failing', 'warn');
  return badge('enabled', 'ok');
}

/** Why the endpoint needs attention, or null. */
export function warningFor(hook) {
  let text = null;
  if (hook.disabled_reason === 'failing') {
    text = ['Disabled by roster: deliveries failed for 24 hours, since ', timeEl(hook.failing_since, true),
      '. Fix the receiver, then enable the endpoint again.'];
  } else if (!hook.enabled && hook.disabled_reason) {
    text = [`Disabled: ${hook.disabled_reason}.`];
  } else if (hook.enabled && hook.failing_since) {
    text = ['Deliveries have been failing since ', timeEl(hook.failing_since, true),
      '. roster keeps retrying and disables the endpoint after 24 hours of failures.'];
  }
  if (!text) return null;
  return h('p', { class: 'webhook-warning', dataset: { reason: hook.disabled_reason || 'failing' } }, icon('alert'), h('span', {}, text));
}

export function listParts() {
  return {
    list: h('ul', { id: 'webhook-list', class: 'webhook-list', 'aria-labelledby': 'webhooks-list-title' }),
    count: h('p', { class: 'count', 'aria-live': 'polite' }),
  };
}

function meta(label, value) {
  return h('div', {}, h('dt', { text: label }), h('dd', {}, value));
}

function rowFor(v, hook) {
  const types = hook.event_types && hook.event_types.length
    ? hook.event_types.map((t) => badge(t))
    : badge('all events', 'accent');
  const btn = (action, text, extra = {}) => h('button', { type: 'button', class: 'btn btn-sm', dataset: { action }, text, ...extra });
  const actions = [
    h('a', { class: 'btn btn-sm', href: `#/webhooks/${encodeURIComponent(hook.id)}`, dataset: { action: 'deliveries' }, text: 'Deliveries' }),
    btn('test', 'Send test', { 'aria-label': `Send a test event to ${hook.url}` }),
    btn('rotate', 'Rotate secret', { 'aria-label': `Rotate the signing secret of ${hook.url}` }),
    btn('toggle', hook.enabled ? 'Disable' : 'Enable', { 'aria-label': `${hook.enabled ? 'Disable' : 'Enable'} ${hook.url}` }),
    btn('delete', 'Delete', { class: 'btn btn-sm btn-danger-ghost', 'aria-label': `Delete ${hook.url}` }),
  ];
  const li = h('li', { class: 'webhook-row card', dataset: { id: hook.id, enabled: String(!!hook.enabled) } },
    h('div', { class: 'webhook-head' },
      h('div', { class: 'webhook-title' },
        h('code', { class: 'webhook-url', text: hook.url }),
        hook.description ? h('p', { class: 'muted', text: hook.description }) : null),
      stateBadge(hook)),
    warningFor(hook),
    h('dl', { class: 'webhook-meta' },
      meta('Events', types),
      meta('Pending', fmtNumber(hook.pending)),
      meta('Delivered through', `#${hook.delivered_through ?? 0}`),
      meta('Created', timeEl(hook.created_at))),
    h('div', { class: 'form-actions webhook-actions' }, actions));
  li.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-action]');
    if (!b) return;
    const run = { test: sendTest, rotate, toggle, delete: remove }[b.dataset.action];
    run(v, hook, li, b);
  });
  return li;
}

export function updateCount({ list, count }) {
  const n = list.querySelectorAll('.webhook-row').length;
  count.textContent = plural(n, 'endpoint', 'endpoints');
  const empty = list.querySelector('.empty');
  if (!n && !empty) list.append(h('li', { class: 'empty', text: 'No endpoints yet. Add one above.' }));
  if (n && empty) empty.remove();
}

export function addRow(v, hook) {
  v.list.prepend(rowFor(v, hook));
  updateCount(v);
}

/** Rebuilds an endpoint's card from `hook`; focus stays on the same action. */
function replaceRow(v, li, hook) {
  const focused = document.activeElement && li.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  const next = rowFor(v, hook);
  li.replaceWith(next);
  const again = focused && next.querySelector(`[data-action="${focused}"]`);
  if (again) again.focus();
  return next;
}

async function sendTest(v, hook, li, b) {
  const old = document.getElementById('webhook-test-result');
  if (old) old.remove();
  const out = h('p', { id: 'webhook-test-result', class: 'test-result', role: 'status', text: 'Sending a test event…' });
  li.append(out);
  await busy(b, async () => {
    try {
      const r = await api(`/webhooks/${encodeURIComponent(hook.id)}/test`, { method: 'POST', signal: v.ctrl.signal });
      const answer = r.status_code != null ? `HTTP ${r.status_code}` : 'no answer';
      out.dataset.delivered = String(!!r.delivered);
      out.textContent = r.delivered
        ? `Test delivered: ${answer} in ${fmtNumber(r.duration_ms)} ms.`
        : `Test not delivered: ${answer}${r.error ? ` — ${r.error}` : ''} (${fmtNumber(r.duration_ms)} ms).`;
    } catch (err) {
      if (isAbort(err)) return;
      out.dataset.delivered = 'false';
      out.textContent = `Could not send a test: ${err.detail}`;
    }
  });
}

async function rotate(v, hook, li, b) {
  const ok = await confirmDialog({
    title: `Rotate the signing secret of ${hook.url}?`,
    message: 'roster signs with a new secret from now on. The current one stays valid for 24 hours, so the receiver can switch over.',
    ok: 'Rotate',
    danger: false,
  });
  if (!ok || v.destroyed) return;
  v.listAlert.hide();
  await busy(b, async () => {
    try {
      const updated = (await request(`/webhooks/${encodeURIComponent(hook.id)}/rotate-secret`, { method: 'POST', body: {}, signal: v.ctrl.signal })).data;
      replaceRow(v, li, updated);
      showSecret(v, updated, true);
    } catch (err) {
      if (!isAbort(err)) v.listAlert.show(err.detail);
    }
  });
}

async function toggle(v, hook, li, b) {
  v.listAlert.hide();
  await busy(b, async () => {
    try {
      const updated = await api(`/webhooks/${encodeURIComponent(hook.id)}`, { method: 'PATCH', body: { enabled: !hook.enabled }, signal: v.ctrl.signal });
      replaceRow(v, li, updated);
      v.notice.flash(`${updated.enabled ? 'Enabled' : 'Disabled'} ${updated.url}.`);
    } catch (err) {
      if (!isAbort(err)) v.listAlert.show(err.detail);
    }
  });
}

async function remove(v, hook, li, b) {
  const ok = await confirmDialog({
    title: `Delete the endpoint ${hook.url}?`,
    message: 'roster stops sending events to it at once. This cannot be undone.',
    ok: 'Delete',
  });
  if (!ok || v.destroyed) return;
  v.listAlert.hide();
  await busy(b, async () => {
    try {
      await request(`/webhooks/${encodeURIComponent(hook.id)}`, { method: 'DELETE', signal: v.ctrl.signal });
      v.notice.flash(`Deleted ${hook.url}.`);
    } catch (err) {
      if (isAbort(err)) return;
      if (err.status !== 404) {
        v.listAlert.show(err.detail);
        return;
      }
    }
    const sib = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    updateCount(v);
    const focusTo = sib && sib.querySelector('[data-action="delete"]');
    (focusTo || v.f.url).focus();
  });
}

/** Lists the endpoints; then focuses `focusId`'s Deliveries link, if given. */
export async function load(v, focusId = null) {
  v.list.setAttribute('aria-busy', 'true');
  if (!v.list.firstChild) v.list.append(h('li', { class: 'empty', text: 'Loading endpoints…' }));
  try {
    const data = await api('/webhooks', { signal: v.ctrl.signal });
    if (v.destroyed) return;
    v.listAlert.hide();
    clear(v.list);
    const items = [...(data.items || [])].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    items.forEach((hook) => v.list.append(rowFor(v, hook)));
    updateCount(v);
    const row = focusId && v.list.querySelector(`.webhook-row[data-id="${CSS.escape(focusId)}"] [data-action="deliveries"]`);
    if (row) row.focus();
  } catch (err) {
    if (isAbort(err) || v.destroyed) return;
    clear(v.list);
    v.listAlert.show(err.detail);
  } finally {
    v.list.setAttribute('aria-busy', 'false');
  }
}
