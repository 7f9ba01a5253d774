// roster admin console: boot, sign-in and setup screens, the shell and the
// hash router (#/users, #/users/<id>, #/keys, #/audit, #/dashboard).

import * as API from '/admin/js/api.js';
import { h, clear, icon, alertBox, statusBox, field, busy, clearFieldErrors, showFieldErrors, problemText } from '/admin/js/dom.js';
import * as usersView from '/admin/js/views/users.js';
import * as keysView from '/admin/js/views/keys.js';
import * as auditView from '/admin/js/views/audit.js';
import * as dashboardView from '/admin/js/views/dashboard.js';

const root = document.getElementById('app');

const ROUTES = {
  users: { view: usersView, label: 'Users', icon: 'users' },
  keys: { view: keysView, label: 'API keys', icon: 'key' },
  audit: { view: auditView, label: 'Audit log', icon: 'audit' },
  dashboard: { view: dashboardView, label: 'Dashboard', icon: 'dashboard' },
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
    showSetup(token);
    return;
  }
  // /admin/users and friends: treat as the matching hash route.
  const m = path.match(/^\/admin\/([a-z]+)(?:\/([^/]+))?$/);
  if (m && ROUTES[m[1]] && !location.hash) {
    history.replaceState(null, '', `/admin/#/${m[1]}${m[2] ? `/${m[2]}` : ''}`);
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

// --- sign-in ------------------------------------------------------------------

function authCard(title, subtitle, ...body) {
  return h('main', { class: 'auth', id: 'main', tabindex: '-1' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'brand brand-lg' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true', text: 'r' }), h('span', { text: 'roster' })),
      h('h1', { class: 'auth-title', text: title }),
      subtitle ? h('p', { class: 'muted', text: subtitle }) : null,
      ...body),
    h('p', { class: 'auth-foot' }, h('a', { href: '/api/v1/openapi.json', text: 'API reference (OpenAPI)' })));
}

function showLogin({ message = '', email = '', notice = '' } = {}) {
  document.title = 'Sign in · roster';
  shell = null;
  const loginInput = h('input', { name: 'login', type: 'text', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false', value: email });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: 'Sign in' });
  const status = statusBox();
  const form = h('form', { id: 'login-form', class: 'form', novalidate: true },
    field('Email or username', loginInput).wrap,
    field('Password', password).wrap,
    alert,
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.hide();
    clearFieldErrors(form);
    if (!loginInput.value.trim() || !password.value) {
      alert.show('Enter your email (or username) and password.');
      (loginInput.value.trim() ? password : loginInput).focus();
      return;
    }
    await busy(submit, async () => {
      submit.textContent = 'Signing in…';
      try {
        const user = await API.login(loginInput.value.trim(), password.value);
        enter(user);
      } catch (err) {
        const left = showFieldErrors(form, err.errors);
        alert.show(problemText(err, left));
        password.value = '';
        if (!form.querySelector('[aria-invalid]')) password.focus();
      } finally {
        submit.textContent = 'Sign in';
      }
    });
  });
  clear(root).append(authCard('Sign in to the admin console', '', status, form));
  if (message) alert.show(message);
  if (notice) status.flash(notice, 0);
  (email ? password : loginInput).focus();
}

// --- first-admin setup ---------------------------------------------------------

function showSetup(token) {
  document.title = 'Set up · roster';
  if (!token) {
    const p = h('p', { class: 'alert', role: 'alert', text: 'This setup link has no token. Use the full link that roster printed when it started.' });
    const back = h('a', { class: 'btn', href: '/admin/', text: 'Go to sign in' });
    clear(root).append(authCard('Create the first admin', '', p, back));
    return;
  }
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const name = h('input', { name: 'name', type: 'text', autocomplete: 'name' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: 'Create admin' });
  const form = h('form', { id: 'setup-form', class: 'form', novalidate: true },
    field('Email', email).wrap,
    field('Name (optional)', name).wrap,
    field('Password', password, { hint: 'At least 8 characters.' }).wrap,
    alert,
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.hide();
    clearFieldErrors(form);
    const body = { token, email: email.value.trim(), password: password.value };
    if (name.value.trim()) body.name = name.value.trim();
    await busy(submit, async () => {
      try {
        await API.publicRequest('/setup', { method: 'POST', body });
        history.replaceState(null, '', '/admin/');
        showLogin({ email: body.email, notice: 'Admin account created. Sign in with your new password.' });
      } catch (err) {
        const left = showFieldErrors(form, err.errors);
        alert.show(problemText(err, left));
      }
    });
  });
  clear(root).append(authCard('Create the first admin', 'This one-time link creates the administrator account.', form));
  email.focus();
}

// --- signed in --------------------------------------------------------------------

function enter(user) {
  if (!user || !Array.isArray(user.roles) || !user.roles.includes('admin')) {
    showNotAdmin(user);
    return;
  }
  buildShell(user);
  if (!location.hash.startsWith('#/')) {
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
  const { name, arg, known } = parseHash();
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
