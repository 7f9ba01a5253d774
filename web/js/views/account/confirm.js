// The one-button account pages: /account/verify (verify an email address),
// /account/magic (sign in by a mailed link) and /account/email (confirm a
// new address). The token is sent only when the button is pressed.

import * as API from '/admin/js/api.js';
import { h, alertBox, busy, problemText } from '/admin/js/dom.js';
import { showCard, doneBox, isInvalidToken } from '/admin/js/views/account/card.js';
import { showDeadLink } from '/admin/js/views/account/dead-link.js';

const confirmWith = (path) => async (token) =>
  (await API.publicRequest(path, { method: 'POST', body: { token } })).data;

/**
 * Each page: its texts, `send(token)` resolving to the user (a sign-in: login()'s answer, {user} or {secondFactor}), and `done(…)`
 * giving the success text and, for a sign-in, where to go next.
 */
const PAGES = {
  verify: {
    title: 'Verify your email address',
    lede: 'Confirm that this email address belongs to you.',
    action: 'Verify my email address',
    working: 'Verifying…',
    send: confirmWith('/auth/verify-email/confirm'),
    done: (user) => ({
      title: 'Email address verified',
      text: `Thank you. ${user.email || 'Your address'} is verified; you can close this page.`,
    }),
  },
  magic: {
    title: 'Sign in to roster',
    lede: 'This link signs you in on this device.',
    action: 'Sign in',
    working: 'Signing in…',
    // Keeps the session as the console does, so /admin/ continues it.
    send: (token) => API.loginWithLink(token),
    done: ({ user, secondFactor }) => (secondFactor ? {
      title: 'One more step',
      text: 'Your account has a second factor: continue to enter a code from your authenticator app.',
      next: { href: '/admin/', text: 'Continue' },
    } : {
      title: 'You are signed in',
      text: user.name || user.email ? `Signed in as ${user.name || user.email}.` : 'You are signed in.',
      next: { href: '/admin/', text: 'Continue to roster' },
    }),
  },
  email: {
    title: 'Confirm your new email address',
    lede: 'Once confirmed, your account uses this new address for signing in and for mail.',
    action: 'Confirm my new address',
    working: 'Confirming…',
    send: confirmWith('/auth/email-change/confirm'),
    done: (user) => ({
      title: 'Email address changed',
      text: user.email ? `Your account's email address is now ${user.email}.` : 'Your account uses the new address now.',
    }),
  },
};

export function isConfirmPage(page) {
  return Object.hasOwn(PAGES, page);
}

/** Replaces `root` with confirmation page `page` for `token`. */
export function showConfirm(root, page, token) {
  if (!token) {
    showDeadLink(root, page, { missing: true });
    return;
  }
  const p = PAGES[page];
  const alert = alertBox();
  const button = h('button', { type: 'button', id: 'account-confirm', class: 'btn btn-primary btn-block', text: p.action });
  button.addEventListener('click', () => sendToken(root, page, token, { button, alert }));
  showCard(root, { title: p.title, subtitle: p.lede }, alert, button);
}

async function sendToken(root, page, token, { button, alert }) {
  const p = PAGES[page];
  alert.hide();
  await busy(button, async () => {
    button.textContent = p.working;
    try {
      const user = await p.send(token);
      succeeded(root, p.done(user || {}));
    } catch (err) {
      if (isInvalidToken(err)) {
        showDeadLink(root, page, { moved: true });
        return;
      }
      // Anything else (throttled, offline, a server error) leaves the link
      // unused: say what happened and let the button try again.
      alert.show(problemText(err));
      button.textContent = p.action;
    }
  });
}

function succeeded(root, { title, text, next }) {
  const go = next ? h('a', { class: 'btn btn-primary btn-block', href: next.href, text: next.text }) : null;
  showCard(root, { title, moved: !go, announce: text }, doneBox(text), go);
  if (go) go.focus();
}
