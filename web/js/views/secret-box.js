// The "shown once" secret callout: an API key's secret (keys.js) and a
// webhook's signing secret (webhooks/form.js). The server never shows a
// secret again, so the box says so, offers Copy, and stays until dismissed.

import { h, icon } from '/admin/js/dom.js';

/**
 * The box (id `id`, its title `${id}-title`): `secret` in a <code>, a Copy
 * button (id `copyId`), `warning`, and "I have stored it", which calls
 * onDismiss. The caller puts it in place and focuses it.
 */
export function secretBox({ id, copyId, title, secret, warning, onDismiss }) {
  const code = h('code', { class: 'secret-value mono', text: secret });
  const copied = h('span', { class: 'copied muted', role: 'status' });
  const copy = h('button', { type: 'button', class: 'btn btn-sm', id: copyId }, icon('copy'), h('span', { text: 'Copy' }));
  copy.addEventListener('click', () => copySecret(secret, code, copied));
  const dismiss = h('button', { type: 'button', class: 'btn btn-sm btn-ghost', text: 'I have stored it' });
  dismiss.addEventListener('click', onDismiss);
  return h('div', { id, class: 'secret-box', role: 'region', 'aria-labelledby': `${id}-title`, tabindex: '-1' },
    h('h2', { id: `${id}-title`, class: 'card-title', text: title }),
    h('p', { class: 'secret-warning', text: warning }),
    h('div', { class: 'secret-row' }, code, copy),
    copied,
    h('div', { class: 'form-actions' }, dismiss));
}

/** Copies to the clipboard; where that is refused, selects the secret instead. */
async function copySecret(secret, code, copied) {
  try {
    await navigator.clipboard.writeText(secret);
    copied.textContent = 'Copied to the clipboard.';
  } catch {
    const range = document.createRange();
    range.selectNodeContents(code);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    copied.textContent = 'Selected — press Ctrl+C (⌘C) to copy.';
  }
}
