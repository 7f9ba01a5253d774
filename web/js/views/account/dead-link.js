// The state of an account page whose link cannot be used: its token is
// missing (the page was reloaded after the token left the address bar, or
// the link was cut), or the server says it is invalid, expired or used. It
// says so and what to do; for verification and reset links, that is a form
// asking for a new link (the request endpoints answer 202 whatever the
// address, so the answer reveals nothing about accounts).

import { publicRequest } from '/admin/js/api.js';
import { h, alertBox, field, busy, clearFieldErrors, showFieldErrors, setFieldError, problemText } from '/admin/js/dom.js';
import { showCard, doneBox } from '/admin/js/views/account/card.js';

const WHAT_TO_DO = {
  verify: {
    todo: 'Enter your email address and we will send you a new verification link.',
    request: '/auth/verify-email/request',
  },
  reset: {
    todo: 'Enter your email address and we will send you a new password reset link.',
    request: '/auth/password-reset/request',
  },
  magic: {
    todo: 'Sign in with your password instead, or ask for a new sign-in link.',
    signIn: true,
  },
  email: {
    todo: 'Your email address has not changed. Ask for the change again to get a new link.',
  },
};

/**
 * Replaces `root` with the dead-link state of `page` (verify, reset, magic
 * or email). `missing`: the page has no token at all; `moved`: it follows an
 * action, so the focus moves to it.
 */
export function showDeadLink(root, page, { missing = false, moved = false } = {}) {
  const what = WHAT_TO_DO[page] || { todo: '' };
  const why = missing
    ? 'This page needs the whole link from your email, with its token. Open the link from the email again; each link works once.'
    : 'This link is invalid, has expired or has already been used; each link works once.';
  const title = missing ? 'This link is incomplete' : 'This link no longer works';
  showCard(root, { title, moved, announce: moved ? `${title}. ${why}` : '' },
    h('div', { id: 'account-failed', class: 'alert', text: why }),
    what.todo ? h('p', { class: 'muted', text: what.todo }) : null,
    what.request ? requestForm(what.request) : null,
    what.signIn ? h('a', { class: 'btn btn-block', href: '/admin/', text: 'Go to sign in' }) : null);
}

/** The "send me a new link" form, posting `{email}` to `path`. */
function requestForm(path) {
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: 'Send a new link' });
  const form = h('form', { id: 'new-link-form', class: 'form', novalidate: true },
    field('Email address', email).wrap,
    alert,
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.hide();
    clearFieldErrors(form);
    const address = email.value.trim();
    if (!address) {
      setFieldError(form.querySelector('.field-error[data-field="email"]'), 'Enter your email address.', email);
      email.focus();
      return;
    }
    await busy(submit, async () => {
      try {
        await publicRequest(path, { method: 'POST', body: { email: address } });
        const text = `If an account uses ${address}, a new link is on its way. Check your inbox (and spam folder).`;
        const done = doneBox(text);
        done.tabIndex = -1;
        form.replaceWith(done);
        done.focus();
      } catch (err) {
        const left = showFieldErrors(form, err.errors);
        alert.show(problemText(err, left));
      }
    });
  });
  return form;
}
