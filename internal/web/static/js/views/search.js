// Search: a query box, and the caller's conversations that match, best
// first, each with the passages where it matched. The query lives in the
// address (#/search/<query>), so a search can be reloaded, bookmarked and
// gone back to.

import { h, replace, badge, titleOf, when, announce } from '../dom.js';
import { marked } from '../highlight.js';

export const MAX_QUERY = 500;

export function mount(root, [query = ''], app) {
  const input = h('input', {
    type: 'search', id: 'q', name: 'q', value: query, maxLength: MAX_QUERY,
    autocomplete: 'off', spellcheck: false, 'aria-describedby': 'q-help',
  });
  const form = h('form', { role: 'search', className: 'search-form', onsubmit: submit },
    h('label', { for: 'q' }, 'Search your conversations'),
    h('div', { className: 'search-row' }, input, h('button', { type: 'submit', className: 'primary' }, 'Search')),
    h('p', { id: 'q-help', className: 'count' },
      'Words all should match; ', h('code', {}, '"exact phrase"'), ', ', h('code', {}, 'prefix*'), ' and ',
      h('code', {}, '-word'), ' to leave out. Titles, content, summaries, action items and keywords are searched.'));
  const status = h('p', { id: 'search-status', className: 'muted', role: 'status' });
  const results = h('ol', { id: 'results', className: 'conversations results', 'aria-labelledby': 'h-results', hidden: true });
  const more = h('button', { type: 'button', hidden: true, onclick: () => load() }, 'More results');
  let cursor = null;
  let live = true;

  root.append(
    h('h1', { tabIndex: -1 }, 'Search'),
    form,
    h('section', { 'aria-labelledby': 'h-results' },
      h('h2', { id: 'h-results', className: query ? null : 'visually-hidden' }, query ? `Results for “${query}”` : 'Results'),
      status, results, more));

  function submit(ev) {
    ev.preventDefault();
    const q = input.value.trim();
    if (!q) {
      replace(status, 'Type something to look for.');
      input.focus();
      return;
    }
    const next = `#/search/${encodeURIComponent(q)}`;
    if (location.hash === next) { reset(); load(); } else location.hash = next;
  }

  function reset() {
    cursor = null;
    results.replaceChildren();
  }

  async function load() {
    more.disabled = true;
    results.setAttribute('aria-busy', 'true');
    if (!cursor) replace(status, 'Searching…');
    try {
      const { data } = await app.api.search(query, cursor);
      if (!live) return;
      for (const it of data.items) results.append(result(it));
      cursor = data.next_cursor;
      more.hidden = !cursor;
      results.hidden = results.children.length === 0;
      const n = results.children.length;
      const text = n === 0 ? `No conversations match “${query}”.` : `${n}${cursor ? '+' : ''} conversation${n === 1 ? '' : 's'} found.`;
      replace(status, text);
      announce(text);
    } catch (err) {
      if (err.status === 401 || !live) return;
      replace(status, h('span', { className: 'error', role: 'alert' }, err.message));
    } finally {
      more.disabled = false;
      results.setAttribute('aria-busy', 'false');
    }
  }

  if (query) load();
  else input.focus();
  return () => { live = false; };
}

/** result is one conversation found, with its highlights. */
function result({ conversation: c, highlights }) {
  return h('li', { id: `r-${c.id}`, className: 'conversation result' },
    h('div', { className: 'row' },
      h('a', { className: 'title', href: `#/conversations/${c.id}` }, titleOf(c)),
      badge(c.ai_status)),
    h('p', { className: 'meta' }, 'Posted ', when(c.created_at)),
    highlights.map((hl) => h('p', { className: 'highlight' }, marked(hl))));
}
