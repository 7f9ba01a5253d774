// Paging of the users view. Browsing pages with the list endpoint's cursors
// (a stack of the previous pages' cursors makes "Previous"); a query pages
// with the search endpoint's offset, which stops at OFFSET_MAX.

import { h, fmtNumber } from '/admin/js/dom.js';

export const PAGE = 50;
const OFFSET_MAX = 10000;

/** The pager (Previous, where we are, Next) and the hint shown past OFFSET_MAX. */
export function buildPager() {
  const prev = h('button', { type: 'button', id: 'page-prev', class: 'btn btn-sm', text: '← Previous', disabled: true });
  const next = h('button', { type: 'button', id: 'page-next', class: 'btn btn-sm', text: 'Next →', disabled: true });
  const pageInfo = h('span', { class: 'page-info muted' });
  const pageHint = h('p', { class: 'hint page-hint', hidden: true });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of users' }, prev, pageInfo, next);
  return { pager, prev, next, pageInfo, pageHint };
}

/** Back to the first page (the query or a filter changed). */
export function resetPaging(st) {
  st.cursors = [];
  st.cursor = null;
  st.next = null;
  st.offset = 0;
}

export function pageBack(st) {
  if (st.q) st.offset = Math.max(0, st.offset - PAGE);
  else st.cursor = st.cursors.pop() ?? null;
}

/** Moves `st` to the next page; false when browsing has no next page. */
export function pageForward(st) {
  if (st.q) {
    st.offset = Math.min(OFFSET_MAX, st.offset + PAGE);
    return true;
  }
  if (!st.next) return false;
  st.cursors.push(st.cursor);
  st.cursor = st.next;
  return true;
}

/** The pager for a page of search results (`st.rows` of `st.total` from `st.offset`). */
export function showSearchPaging({ prev, next, pageInfo, pageHint }, st) {
  const from = st.rows ? st.offset + 1 : 0;
  const to = st.offset + st.rows;
  pageInfo.textContent = st.rows ? `${fmtNumber(from)}–${fmtNumber(to)} of ${fmtNumber(st.total)}` : '';
  prev.disabled = st.offset === 0;
  const nextOffset = st.offset + PAGE;
  const more = nextOffset < st.total;
  const capped = more && nextOffset > OFFSET_MAX;
  next.disabled = !more || capped;
  pageHint.hidden = !capped;
  pageHint.textContent = capped ? `Search shows the first ${fmtNumber(OFFSET_MAX)} matches; refine the query or add filters to see the rest.` : '';
}

/** The pager for a browsed page (numbered by the cursor stack). */
export function showListPaging({ prev, next, pageInfo, pageHint }, st) {
  const page = st.cursors.length + 1;
  pageInfo.textContent = st.rows ? `Page ${fmtNumber(page)}` : '';
  prev.disabled = st.cursors.length === 0;
  next.disabled = !st.next;
  pageHint.hidden = true;
}
