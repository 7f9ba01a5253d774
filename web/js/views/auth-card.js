// The card that frames the pages shown outside the shell: sign-in, first-admin
// setup, the "not an admin" greeting, and the account pages of mailed links.

import { h } from '/admin/js/dom.js';

/** A <main> with the brand, a title, an optional subtitle, `body`, and a link to the API reference. */
export function authCard(title, subtitle, ...body) {
  const main = plainCard(title, subtitle, ...body);
  main.append(h('p', { class: 'auth-foot' }, h('a', { href: '/api/v1/openapi.json', text: 'API reference (OpenAPI)' })));
  return main;
}

/** The same card without the API reference, for the people mail links bring. */
export function plainCard(title, subtitle, ...body) {
  return h('main', { class: 'auth', id: 'main', tabindex: '-1' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'brand brand-lg' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true', text: 'r' }), h('span', { text: 'roster' })),
      h('h1', { class: 'auth-title', text: title }),
      subtitle ? h('p', { class: 'muted', text: subtitle }) : null,
      ...body));
}
