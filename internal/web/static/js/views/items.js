// "My action items": the open action items of all of a person's
// conversations, grouped as overdue, due this week, later and undated,
// each with a link to its conversation and a checkbox that ticks it off.
// A tick is sent at once (PATCH) and is the server's from then on, so a
// reload shows it; until then the item stays on screen, ticked, so a
// mistaken tick can be undone where it was made.

import { h, replace, announce } from '../dom.js';

const PAGE = 100;
// Pages read before showing anything; the rest load on request. The
// listing is in due order, so a later page only adds to the last groups.
const FIRST_PAGES = 10;

const GROUPS = [
  { id: 'overdue', label: 'Overdue' },
  { id: 'week', label: 'Due this week' },
  { id: 'later', label: 'Later' },
  { id: 'undated', label: 'No due date' },
];

const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

/** isoDay is the person's local calendar date of t, as YYYY-MM-DD. */
function isoDay(t) {
  const p = (n) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}`;
}

/** groupOf says which group an item with due date due (YYYY-MM-DD or
 * null) belongs to, on the person's today: the week ends on Sunday. */
export function groupOf(due, now = new Date()) {
  if (!due) return 'undated';
  const today = isoDay(now);
  if (due < today) return 'overdue';
  const end = new Date(now);
  end.setDate(end.getDate() + ((7 - end.getDay()) % 7));
  return due <= isoDay(end) ? 'week' : 'later';
}

export function mount(root, _params, app) {
  let stopped = false;
  let cursor = null;
  const items = [];
  const status = h('p', { className: 'muted', role: 'status' }, 'Loading your action items…');
  const groups = h('div', { id: 'action-items', className: 'action-items', 'aria-busy': 'true' });
  const more = h('button', { type: 'button', hidden: true, onclick: () => load(FIRST_PAGES) }, 'Load more');

  root.append(h('h1', { tabIndex: -1 }, 'My action items'), status, groups, more);

  async function load(pages) {
    more.disabled = true;
    try {
      for (let i = 0; i < pages; i++) {
        const { data } = await app.api.actionItems({ status: 'open', limit: PAGE, cursor });
        if (stopped) return;
        items.push(...data.items);
        cursor = data.next_cursor;
        if (!cursor) break;
      }
      render();
      status.hidden = items.length > 0;
      if (items.length === 0) replace(status, 'Nothing open: the action items of your conversations will be listed here.');
      more.hidden = !cursor;
      groups.setAttribute('aria-busy', 'false');
    } catch (err) {
      if (err.status === 401 || stopped) return;
      status.hidden = false;
      replace(status, `Your action items could not be loaded: ${err.message} `,
        h('button', { type: 'button', onclick: () => load(pages) }, 'Try again'));
    } finally {
      more.disabled = false;
    }
  }

  function render() {
    // Rows already on screen are kept (with their focus and their tick);
    // only new ones are made.
    const now = new Date();
    const sections = GROUPS.map((g) => {
      const mine = items.filter((it) => groupOf(it.due, now) === g.id);
      if (mine.length === 0) return null;
      const list = h('ul', { className: 'item-list' }, mine.map((it) => document.getElementById(rowID(it)) ?? row(it, app)));
      return h('section', { className: `item-group group-${g.id}`, 'aria-labelledby': `g-${g.id}` },
        h('h2', { id: `g-${g.id}` }, `${g.label} `, h('span', { className: 'muted' }, `(${mine.length})`)),
        list);
    });
    replace(groups, sections);
  }

  load(FIRST_PAGES);
  return () => { stopped = true; };
}

const rowID = (it) => `ai-${it.conversation_id}-${it.id}`;

/** row is one item: its checkbox, labelled by the item's text, then who,
 * when and where from. */
function row(it, app) {
  const id = rowID(it);
  const box = h('input', { type: 'checkbox', id: `${id}-box`, checked: it.done, 'aria-describedby': `${id}-meta ${id}-error` });
  const error = h('p', { className: 'error', id: `${id}-error`, hidden: true });
  const title = it.conversation_title.trim() || 'Untitled conversation';
  const li = h('li', { id, className: 'action-item' },
    h('div', { className: 'check' }, box, h('label', { for: box.id }, it.text)),
    h('p', { className: 'meta', id: `${id}-meta` },
      it.owner ? `${it.owner} · ` : '',
      it.due ? h('time', { datetime: it.due }, `due ${dayFormat.format(new Date(`${it.due}T00:00:00Z`))}`) : 'no due date',
      ' · from ', h('a', { href: `#/conversations/${it.conversation_id}` }, title)),
    error);
  let busy = false;
  box.addEventListener('change', async () => {
    if (busy) {
      box.checked = !box.checked; // one change at a time
      return;
    }
    const done = box.checked;
    busy = true;
    li.setAttribute('aria-busy', 'true');
    try {
      const { data } = await app.api.setItemDone(it.conversation_id, it.id, done);
      it.done = data.done;
      li.classList.toggle('done', data.done);
      error.hidden = true;
      announce(data.done ? `Done: ${it.text}` : `Open again: ${it.text}`);
    } catch (err) {
      box.checked = !done;
      if (err.status === 401) return;
      error.textContent = `Not saved: ${err.message}`;
      error.hidden = false;
      announce(error.textContent);
    } finally {
      busy = false;
      li.removeAttribute('aria-busy');
    }
  });
  return li;
}
