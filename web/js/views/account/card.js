// What the account pages (account.js) share: the card they show in, the
// success box, the announcement of an outcome, and telling a dead link from
// other failures.

import { h, clear, icon } from '/admin/js/dom.js';
import { plainCard } from '/admin/js/views/auth-card.js';

/** The problem type of an invalid, expired or already used link token. */
const INVALID_TOKEN = 'urn:roster:problem:invalid-token';

/** True when `err` says the link's token is no good (any more). */
export function isInvalidToken(err) {
  return !!err && err.status === 400 && err.type === INVALID_TOKEN;
}

/**
 * Replaces `root` with a card titled `title` holding `body`. After an action
 * (`moved`), the focus goes to the title, so the new state is read from its
 * top, and `announce` is said through the page's live region.
 */
export function showCard(root, { title, subtitle = '', moved = false, announce = '' }, ...body) {
  document.title = `${title} · roster`;
  const card = plainCard(title, subtitle, ...body);
  clear(root).append(card);
  if (moved) {
    const heading = card.querySelector('.auth-title');
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
  say(announce);
  return card;
}

/** Says `text` through the live region of account.html. */
export function say(text) {
  const live = document.getElementById('account-live');
  if (!live) return;
  live.textContent = '';
  // A separate task, so the same words said twice are announced twice.
  if (text) setTimeout(() => { live.textContent = text; }, 50);
}

/** The box that tells what an action achieved (id account-done). */
export function doneBox(text) {
  return h('p', { id: 'account-done', class: 'done' }, icon('check'), h('span', { text }));
}
