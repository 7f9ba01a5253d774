// The pages that the links in roster's mail open (account.html):
// /account/verify, /account/reset, /account/magic and /account/email, each
// with ?token=…. This module reads the token, takes it out of the address
// bar (so it is not kept in history, bookmarks or a shared screen) and
// shows the page's view from js/views/account/.
//
// Nothing is sent on load: mail scanners open links too, and a token works
// once, so every page waits for the person to act.

import { h } from '/admin/js/dom.js';
import { showCard } from '/admin/js/views/account/card.js';
import { showConfirm, isConfirmPage } from '/admin/js/views/account/confirm.js';
import { showReset } from '/admin/js/views/account/reset.js';

const root = document.getElementById('app');

function boot() {
  const page = location.pathname.replace(/\/+$/, '').split('/').pop();
  const token = new URLSearchParams(location.search).get('token') || '';
  if (location.search || location.hash) history.replaceState(null, '', location.pathname);
  if (page === 'reset') showReset(root, token);
  else if (isConfirmPage(page)) showConfirm(root, page, token);
  else {
    showCard(root, { title: 'Page not found' },
      h('p', { class: 'muted', text: 'There is no page at this address. Check the link in your email.' }));
  }
}

boot();
