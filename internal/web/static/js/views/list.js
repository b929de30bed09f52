// The home view: post a conversation, and see yours newest first, each
// turning from pending to done on screen as its analysis arrives.

import { h, replace, when, count, chars, badge, titleOf, announce } from '../dom.js';
import { watch, isFinal } from '../poll.js';
import * as store from '../store.js';

export const MAX_CONTENT = 100000;
const POST_TYPES = ['update', 'meeting', 'standup', 'incident', 'chat', 'email', 'note'];
const FIELDS = ['title', 'content', 'post_type', 'priority'];

export function mount(root, _params, app) {
  const watchers = new Map();
  const form = postForm(app, (c) => {
    list.prepend(item(c));
    empty.hidden = true;
    follow(c);
  });
  const list = h('ul', { id: 'conversations', className: 'conversations', 'aria-busy': 'true' });
  const empty = h('p', { className: 'muted', hidden: true }, 'Nothing yet: your conversations will be listed here.');
  const status = h('p', { className: 'muted' }, 'Loading your conversations…');
  const more = h('button', { type: 'button', hidden: true, onclick: () => load() }, 'Load more');
  let cursor = null;

  root.append(
    h('h1', { tabIndex: -1, className: 'visually-hidden' }, 'Conversations'),
    form.element,
    h('section', { 'aria-labelledby': 'yours' },
      h('h2', { id: 'yours' }, 'Your conversations'),
      status, empty, list, more),
  );

  function follow(c) {
    if (isFinal(c.ai_status) || watchers.has(c.id)) return;
    watchers.set(c.id, watch(app.api, c.id, null, (next) => {
      document.getElementById(`c-${next.id}`)?.replaceWith(item(next));
      if (isFinal(next.ai_status)) {
        watchers.delete(next.id);
        announce(`“${titleOf(next)}” is ${next.ai_status}.`);
      }
    }));
  }

  async function load() {
    more.disabled = true;
    try {
      const { data } = await app.api.list(cursor);
      for (const c of data.items) {
        if (!document.getElementById(`c-${c.id}`)) list.append(item(c));
        follow(c);
      }
      cursor = data.next_cursor;
      more.hidden = !cursor;
      status.hidden = true;
      empty.hidden = list.children.length > 0;
      if (list.getAttribute('aria-busy') === 'true') {
        list.setAttribute('aria-busy', 'false');
        // Navigation to a usable list, for whoever measures it.
        performance.mark('recall:list');
      }
    } catch (err) {
      if (err.status === 401) return;
      status.hidden = false;
      replace(status, `Your conversations could not be loaded: ${err.message} `,
        h('button', { type: 'button', onclick: () => load() }, 'Try again'));
    } finally {
      more.disabled = false;
    }
  }

  load();
  return () => {
    for (const w of watchers.values()) w.stop();
    watchers.clear();
  };
}

/** item is one conversation in the list. */
function item(c) {
  return h('li', { id: `c-${c.id}`, className: 'conversation' },
    h('div', { className: 'row' },
      h('a', { href: `#/conversations/${c.id}`, className: 'title' }, titleOf(c)),
      badge(c.ai_status)),
    h('p', { className: 'meta' }, when(c.created_at), ` · ${c.post_type} · ${c.priority} priority`),
    c.ai_status === 'done' && c.ai_summary ? h('p', { className: 'summary' }, c.ai_summary) : null,
    c.ai_status === 'failed' && c.ai_error ? h('p', { className: 'error' }, c.ai_error) : null,
  );
}

/** fieldOf says which field a server message is about, if it names one. */
function fieldOf(err) {
  if (err.code === 'payload_too_large') return 'content';
  const m = /^(?:Field ")?(title|content|post_type|priority)\b/.exec(err.message);
  return m ? m[1] : null;
}

/**
 * postForm is the form for a new conversation. What is typed is kept as a
 * draft in sessionStorage on every change, so a sign-in in between loses
 * nothing. Each distinct submission gets its own Idempotency-Key, kept
 * until the server has answered it: pressing Post again after a network
 * error or a double click sends the same key, and the server creates the
 * conversation once.
 */
function postForm(app, created) {
  const draft = store.get('draft') ?? {};
  const field = (name, label, control, hint) => {
    control.id = `f-${name}`;
    control.name = name;
    const error = h('p', { id: `f-${name}-error`, className: 'error field-error', hidden: true });
    const described = [hint?.id, error.id].filter(Boolean).join(' ');
    control.setAttribute('aria-describedby', described);
    return { control, error, element: h('div', { className: `field field-${name}` }, h('label', { for: control.id }, label), control, hint, error) };
  };
  const counter = h('p', { id: 'f-content-count', className: 'count' });
  const f = {
    title: field('title', 'Title', h('input', { type: 'text', autocomplete: 'off', value: draft.title ?? '' })),
    content: field('content', 'Content', h('textarea', { rows: 8, required: true, value: draft.content ?? '' }), counter),
    post_type: field('post_type', 'Post type', h('input', { type: 'text', list: 'post-types', autocomplete: 'off', value: draft.post_type ?? 'update' })),
    priority: field('priority', 'Priority', h('select', {}, ['default', 'high', 'low'].map((p) => h('option', { value: p }, p)))),
  };
  f.priority.control.value = draft.priority ?? 'default';
  const formError = h('p', { className: 'error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', className: 'primary' }, 'Post');
  let busy = false;
  let over = false;

  const values = () => ({
    title: f.title.control.value,
    content: f.content.control.value,
    post_type: f.post_type.control.value.trim(),
    priority: f.priority.control.value,
  });

  function countChars() {
    const n = chars(f.content.control.value);
    const wasOver = over;
    over = n > MAX_CONTENT;
    counter.textContent = over
      ? `${count(n)} / ${count(MAX_CONTENT)} characters: ${count(n - MAX_CONTENT)} over the limit`
      : `${count(n)} / ${count(MAX_CONTENT)} characters`;
    counter.classList.toggle('over', over);
    if (over !== wasOver) announce(over ? 'The content is over the 100,000-character limit.' : 'The content is within the limit again.');
  }

  function clearErrors() {
    formError.hidden = true;
    for (const name of FIELDS) {
      f[name].error.hidden = true;
      f[name].control.removeAttribute('aria-invalid');
    }
  }

  function showError(err) {
    const name = err.status === 0 ? null : fieldOf(err);
    if (name) {
      f[name].error.textContent = err.message;
      f[name].error.hidden = false;
      f[name].control.setAttribute('aria-invalid', 'true');
      f[name].control.focus();
      announce(err.message);
    } else {
      formError.textContent = err.status === 0
        ? `${err.message} Press Post again: it will not be posted twice.`
        : err.message;
      formError.hidden = false;
    }
  }

  const form = h('form', {
    className: 'card post-form',
    'aria-labelledby': 'new-heading',
    novalidate: true,
    oninput: () => {
      store.set('draft', values());
      countChars();
    },
    onsubmit: async (e) => {
      e.preventDefault();
      if (busy) return;
      clearErrors();
      const body = values();
      if (!body.post_type) delete body.post_type;
      const fingerprint = JSON.stringify(body);
      let pending = store.get('post');
      if (!pending || pending.fingerprint !== fingerprint) {
        pending = { fingerprint, key: crypto.randomUUID() };
        store.set('post', pending);
      }
      busy = true;
      submit.disabled = true;
      submit.textContent = 'Posting…';
      form.setAttribute('aria-busy', 'true');
      try {
        const { data } = await app.api.create(body, pending.key);
        store.remove('post');
        store.remove('draft');
        f.title.control.value = '';
        f.content.control.value = '';
        countChars();
        announce(`Posted “${titleOf(data)}”; its analysis is ${data.ai_status}.`);
        created(data);
      } catch (err) {
        // A refused submission (4xx) will not succeed as it is; the next
        // one, edited, gets a new key. A network error or a 5xx keeps the
        // key for the retry. A 401 keeps everything for after sign-in.
        if (err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 429) store.remove('post');
        if (err.status !== 401) showError(err);
      } finally {
        busy = false;
        submit.disabled = false;
        submit.textContent = 'Post';
        form.removeAttribute('aria-busy');
      }
    },
  },
  h('h2', { id: 'new-heading' }, 'New conversation'),
  f.title.element,
  f.content.element,
  h('div', { className: 'pair' }, f.post_type.element, f.priority.element),
  h('datalist', { id: 'post-types' }, POST_TYPES.map((t) => h('option', { value: t }))),
  formError,
  h('div', { className: 'actions' }, submit));
  countChars();
  return { element: form };
}
