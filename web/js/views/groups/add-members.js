// "Add members": find users as you type (the user search, typo tolerant,
// matches highlighted) and add each with its Add button. Those already in
// the group show "Member" instead: the same search, limited to the group,
// says which of the users found are members.

import { api, qs, isAbort } from '/admin/js/api.js';
import { h, clear, icon, badge, alertBox, debounce, busy, highlighted, plural, problemText } from '/admin/js/dom.js';

const RESULTS = 10;

/** A user's name (or, without one, email). */
export const userLabel = (user) => user.name || user.email;

/**
 * The card for group page `d` (see detail.js); `onAdded(user, group)` runs
 * after a user is added, with the group as it now is. Returns {card,
 * search, mark(id, member), cancel()}.
 */
export function addMembersPart(d, onAdded) {
  const a = {
    d,
    onAdded,
    search: h('input', {
      type: 'search',
      id: 'member-search',
      autocomplete: 'off',
      spellcheck: 'false',
      maxlength: '512',
      placeholder: 'Name, email or username…',
      'aria-controls': 'member-results',
      'aria-describedby': 'member-search-hint',
    }),
    results: h('ul', { id: 'member-results', class: 'member-results', 'aria-label': 'Users found' }),
    status: h('p', { id: 'member-results-status', class: 'count', role: 'status' }),
    alert: alertBox(),
    found: new Map(),
    // Membership changes made on this page, each with the search that was
    // the latest then: that search began before the change and may miss it.
    changed: new Map(),
    ctrl: null,
    seq: 0,
  };
  const onType = debounce(() => find(a), 200);
  a.search.addEventListener('input', onType);
  a.search.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    onType.cancel();
    find(a);
  });
  const card = h('section', { class: 'card group-section', 'aria-labelledby': 'add-members-title' },
    h('h2', { id: 'add-members-title', class: 'card-title', text: 'Add members' }),
    h('div', { class: 'search-box' },
      h('label', { for: 'member-search', class: 'sr-only', text: 'Find users to add' }),
      icon('search', 'icon search-icon'),
      a.search),
    h('p', { class: 'hint', id: 'member-search-hint', text: 'Find users by name, email or username, then add them one by one.' }),
    a.alert,
    a.status,
    a.results);
  return {
    card,
    search: a.search,
    mark: (id, member) => mark(a, id, member),
    cancel() {
      onType.cancel();
      if (a.ctrl) a.ctrl.abort();
    },
  };
}

/** Searches for what the box holds; an empty box clears the results. */
async function find(a) {
  const { d } = a;
  const q = a.search.value.trim();
  if (a.ctrl) a.ctrl.abort();
  const my = ++a.seq;
  a.alert.hide();
  if (!q) {
    clear(a.results);
    a.status.textContent = '';
    return;
  }
  // Aborted by the next search, and by cancel() when the page goes.
  a.ctrl = new AbortController();
  const { signal } = a.ctrl;
  a.results.setAttribute('aria-busy', 'true');
  try {
    const found = api(`/users/search${qs({ q, limit: RESULTS })}`, { signal });
    // The group filter narrows the same search (adding one constant to
    // every member's score), so members among the first RESULTS users found
    // are, ties aside, among the first RESULTS members found. Should one be
    // missed (or this answer fail), its Add button adds nothing and says so.
    const members = api(`/users/search${qs({ q, group: d.id, limit: RESULTS })}`, { signal })
      .catch((e) => {
        if (isAbort(e)) throw e;
        return null;
      });
    const [res, mem] = await Promise.all([found, members]);
    if (my !== a.seq || d.destroyed) return;
    const memberIds = new Set(((mem && mem.hits) || []).map((hit) => hit.user.id));
    clear(a.results);
    a.found.clear();
    for (const hit of res.hits || []) {
      const local = a.changed.get(hit.user.id);
      a.found.set(hit.user.id, hit.user);
      a.results.append(resultRow(a, hit, local && local.seq >= my ? local.member : memberIds.has(hit.user.id)));
    }
    const more = res.total > RESULTS ? `; the best ${RESULTS} are shown` : '';
    a.status.textContent = res.total ? `${plural(res.total, 'user', 'users')} found${more}.` : `No users match “${q}”.`;
  } catch (err) {
    if (isAbort(err) || my !== a.seq || d.destroyed) return;
    clear(a.results);
    a.status.textContent = '';
    a.alert.show(err.status === 503 ? 'Search is not available right now.' : problemText(err));
  } finally {
    if (my === a.seq && !d.destroyed) a.results.setAttribute('aria-busy', 'false');
  }
}

function resultRow(a, hit, member) {
  const u = hit.user;
  const hl = hit.highlights || {};
  const main = u.name ? (hl.name ? highlighted(hl.name) : u.name) : (hl.email ? highlighted(hl.email) : u.email);
  return h('li', { class: 'member-result', dataset: { id: u.id } },
    h('div', { class: 'member-who' },
      h('span', { class: 'member-name' }, main),
      u.name ? h('span', { class: 'member-email' }, hl.email ? highlighted(hl.email) : u.email) : null),
    member ? memberBadge() : addButton(a, u));
}

function memberBadge() {
  const b = badge('Member', 'ok');
  b.classList.add('member-action');
  return b;
}

function addButton(a, user) {
  const b = h('button', {
    type: 'button', class: 'btn btn-sm member-action', dataset: { action: 'add' }, 'aria-label': `Add ${userLabel(user)}`,
  }, icon('plus'), h('span', { text: 'Add' }));
  b.addEventListener('click', () => add(a, user, b));
  return b;
}

/** Notes that user `id` was just added (`member`) or removed, and shows it so if found. */
function mark(a, id, member) {
  a.changed.set(id, { member, seq: a.seq });
  const li = a.results.querySelector(`.member-result[data-id="${CSS.escape(id)}"]`);
  const user = a.found.get(id);
  if (!li || !user) return;
  li.querySelector('.member-action').replaceWith(member ? memberBadge() : addButton(a, user));
}

/** Adds `user`; the focus moves to the next Add button, or the search box. */
async function add(a, user, button) {
  const { d } = a;
  a.alert.hide();
  await busy(button, async () => {
    try {
      const res = await api(`/groups/${encodeURIComponent(d.id)}/members`, { method: 'POST', body: { user_ids: [user.id] }, signal: d.ctrl.signal });
      if (d.destroyed) return;
      const li = button.closest('li');
      const next = [...a.results.querySelectorAll('[data-action="add"]')].find((b) => b !== button && (li.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING));
      mark(a, user.id, true);
      (next || a.search).focus();
      a.status.textContent = res.added ? `Added ${userLabel(user)}.` : `${userLabel(user)} was already a member.`;
      a.onAdded(user, res.group);
    } catch (err) {
      if (isAbort(err) || d.destroyed) return;
      a.alert.show(problemText(err));
    }
  });
}
