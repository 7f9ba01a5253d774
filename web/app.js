// roster admin console: boot, the shell and the hash router (#/users,
// #/users/<id>, #/groups, #/groups/<id>, #/keys, #/webhooks, #/webhooks/<id>, #/apps,
// #/audit, #/dashboard, #/security). Someone whose role requires a second factor it lacks is kept
// on #/security until it is set up (the server allows nothing else).
// The sign-in and setup pages live in js/views/ (signin.js, setup.js).

import * as API from '/admin/js/api.js';
import { h, clear, icon, busy } from '/admin/js/dom.js';
import { authCard } from '/admin/js/views/auth-card.js';
import { showSignIn, showSecondFactor } from '/admin/js/views/signin.js';
import { showSetup } from '/admin/js/views/setup.js';
import * as usersView from '/admin/js/views/users.js';
import * as groupsView from '/admin/js/views/groups.js';
import * as keysView from '/admin/js/views/keys.js';
import * as webhooksView from '/admin/js/views/webhooks.js';
import * as appsView from '/admin/js/views/apps.js';
import * as auditView from '/admin/js/views/audit.js';
import * as dashboardView from '/admin/js/views/dashboard.js';
import * as securityView from '/admin/js/views/security.js';

const root = document.getElementById('app');

const ROUTES = {
  users: { view: usersView, label: 'Users', icon: 'users' },
  groups: { view: groupsView, label: 'Groups', icon: 'group' },
  keys: { view: keysView, label: 'API keys', icon: 'key' },
  webhooks: { view: webhooksView, label: 'Webhooks', icon: 'webhook' },
  apps: { view: appsView, label: 'Sign-in apps', icon: 'check' },
  audit: { view: auditView, label: 'Audit log', icon: 'audit' },
  dashboard: { view: dashboardView, label: 'Dashboard', icon: 'dashboard' },
  security: { view: securityView, label: 'Security', icon: 'shield' },
};

let current = null; // {name, instance}
let shell = null; // {main, nav links}

// --- boot ---------------------------------------------------------------------

API.onSignedOut((message) => {
  unmountCurrent();
  showLogin({ message });
});

async function boot() {
  const path = location.pathname.replace(/\/+$/, '');
  if (path === '/admin/setup') {
    const token = new URLSearchParams(location.search).get('token') || '';
    showSetup(root, token, { signIn: showLogin });
    return;
  }
  // /admin/users and friends: treat as the matching hash route.
  const m = path.match(/^\/admin\/([a-z]+)(?:\/([^/]+))?$/);
  if (m && ROUTES[m[1]] && !location.hash) {
    history.replaceState(null, '', `/admin/#/${m[1]}${m[2] ? `/${m[2]}` : ''}`);
  }
  const pending = API.takePendingChallenge();
  if (pending) {
    showSecondFactor(root, pending, { onSignedIn: enter });
    return;
  }
  if (API.hasStoredSession()) {
    try {
      const user = await API.restore();
      if (user) {
        enter(user);
        return;
      }
    } catch (e) {
      // A refused refresh token has already led to the sign-in form (with a
      // note); for an unreachable or busy server, say so.
      const refused = e.status >= 400 && e.status < 500 && e.status !== 429;
      if (!refused) showLogin({ message: e.detail });
      return;
    }
  }
  showLogin({});
}

// --- signed out -------------------------------------------------------------------

/** The sign-in page; there is no shell while it shows. */
function showLogin(opts = {}) {
  shell = null;
  showSignIn(root, { ...opts, onSignedIn: enter });
}

// --- signed in --------------------------------------------------------------------

function enter(user) {
  if (!user || !Array.isArray(user.roles) || !user.roles.includes('admin')) {
    showNotAdmin(user);
    return;
  }
  buildShell(user);
  if (API.mustEnrolSecondFactor()) {
    history.replaceState(null, '', `${location.pathname}${location.search}#/security`);
  } else if (!location.hash.startsWith('#/')) {
    history.replaceState(null, '', `${location.pathname}${location.search}#/users`);
  }
  route();
}

function logoutButton() {
  const b = h('button', { type: 'button', id: 'logout', class: 'btn btn-ghost' }, icon('logout'), h('span', { class: 'label', text: 'Sign out' }));
  b.addEventListener('click', async () => {
    await busy(b, () => API.logout());
    unmountCurrent();
    history.replaceState(null, '', '/admin/');
    showLogin({ notice: 'You have signed out.' });
  });
  return b;
}

function showNotAdmin(user) {
  document.title = 'roster';
  shell = null;
  const who = user ? (user.name || user.email) : 'there';
  clear(root).append(authCard(`Hello, ${who}`, '',
    h('p', { class: 'notice visible', role: 'status', text: 'This console is for administrators. Your account does not have the admin role, so there is nothing to manage here. Ask an admin if you need access.' }),
    h('div', { class: 'row-actions' }, logoutButton())));
}

function buildShell(user) {
  const links = {};
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main' },
    h('ul', {}, Object.entries(ROUTES).map(([name, r]) => {
      const a = h('a', { href: `#/${name}`, class: 'nav-link', dataset: { route: name } }, icon(r.icon), h('span', { text: r.label }));
      links[name] = a;
      return h('li', {}, a);
    })));
  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  const side = h('header', { class: 'sidebar' },
    h('a', { class: 'brand', href: '#/users', 'aria-label': 'roster, users' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true', text: 'r' }), h('span', { class: 'brand-name', text: 'roster' })),
    nav,
    h('div', { class: 'sidebar-foot' },
      h('a', { class: 'nav-link nav-link-sm', href: '/api/v1/openapi.json', target: '_blank', rel: 'noopener' }, icon('doc'), h('span', { text: 'OpenAPI' })),
      h('div', { class: 'whoami', title: user.email },
        h('span', { class: 'avatar', 'aria-hidden': 'true', text: (user.name || user.email || '?').trim().charAt(0).toUpperCase() }),
        h('span', { class: 'whoami-text' }, h('span', { class: 'whoami-name', text: user.name || user.email }), user.name ? h('span', { class: 'whoami-mail', text: user.email }) : null)),
      logoutButton()));
  const layout = h('div', { class: 'layout' }, side, main);
  clear(root).append(layout);
  shell = { main, links, layout };
}

function unmountCurrent() {
  if (current && current.instance && current.instance.unmount) {
    try {
      current.instance.unmount();
    } catch {
      /* a view failing to clean up must not block navigation */
    }
  }
  current = null;
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = raw.split('/');
  return { name: ROUTES[name] ? name : 'users', arg: rest.length ? decodeURIComponent(rest.join('/')) : null, known: !!ROUTES[name] };
}

function route() {
  if (!shell || !API.isSignedIn()) return;
  if (!location.hash.startsWith('#/')) return; // e.g. the skip link
  let { name, arg, known } = parseHash();
  if (API.mustEnrolSecondFactor() && name !== 'security') {
    ({ name, arg, known } = { name: 'security', arg: null, known: true });
    history.replaceState(null, '', '#/security');
  }
  if (!known) {
    history.replaceState(null, '', '#/users');
  }
  for (const [n, a] of Object.entries(shell.links)) {
    if (n === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${ROUTES[name].label} · roster`;
  if (current && current.name === name && current.instance.update) {
    current.instance.update(arg);
    return;
  }
  unmountCurrent();
  clear(shell.main);
  const instance = ROUTES[name].view.mount(shell.main, arg);
  current = { name, instance };
}

window.addEventListener('hashchange', route);

document.addEventListener('click', (e) => {
  const skip = e.target.closest && e.target.closest('.skip-link');
  if (skip) {
    e.preventDefault();
    const main = document.getElementById('main');
    if (main) main.focus();
  }
});

boot();
