// One conversation: its content and everything the analysis wrote, live
// while the analysis runs, and a Reprocess button whose new run arrives on
// screen the same way.

import { h, replace, when, count, badge, titleOf, announce } from '../dom.js';
import { watch, isFinal } from '../poll.js';
import { deleteButton } from './delete.js';

export function mount(root, [id], app) {
  let watcher = null;
  let etag = null;
  // Made once and kept across re-renders: the dialog lives outside the
  // view, so an update that arrives while it is open does not close it.
  let del = null;
  const view = h('article', { className: 'detail', 'aria-busy': 'true' },
    h('p', {}, h('a', { href: '#/' }, '← All conversations')),
    h('h1', { tabIndex: -1 }, 'Loading…'));
  root.append(view);

  function show(c) {
    document.title = `${titleOf(c)} · Recall`;
    const focused = document.activeElement;
    const hadFocus = focused?.id === 'reprocess';
    const deleteHadFocus = focused?.id === 'delete';
    if (!del) {
      del = deleteButton(c, app);
      root.append(del.dialog);
    }
    // aria-disabled rather than disabled while a run is in progress: a
    // disabled button drops the keyboard focus it had.
    const reprocess = h('button', {
      type: 'button',
      id: 'reprocess',
      'aria-disabled': isFinal(c.ai_status) ? null : 'true',
      onclick: () => { if (isFinal(c.ai_status)) again(c); },
    }, 'Reprocess');
    const headingHadFocus = focused?.tagName === 'H1' && view.contains(focused);
    replace(view,
      h('p', {}, h('a', { href: '#/' }, '← All conversations')),
      h('div', { className: 'row' }, h('h1', { tabIndex: -1 }, titleOf(c)), badge(c.ai_status)),
      h('dl', { className: 'facts' },
        fact('Status', c.ai_status === 'failed' ? `failed after ${c.ai_attempts} attempt${c.ai_attempts === 1 ? '' : 's'}` : c.ai_status),
        fact('Posted', when(c.created_at)),
        fact('Post type', c.post_type),
        fact('Priority', c.priority),
        fact('Processed', when(c.processed_at)),
        fact('Model', c.ai_model ?? '—'),
        fact('Tokens used', `${count(c.ai_usage.input_tokens)} in, ${count(c.ai_usage.output_tokens)} out`)),
      h('div', { className: 'actions' }, reprocess, del.button,
        isFinal(c.ai_status) ? null : h('span', { className: 'muted' }, ' The analysis is on its way; this page updates by itself.')),
      c.ai_status === 'failed'
        ? h('section', { 'aria-labelledby': 'h-error' }, h('h2', { id: 'h-error' }, 'Why it failed'), h('p', { className: 'error' }, c.ai_error ?? 'No reason was recorded.'))
        : null,
      c.ai_status === 'done' ? analysis(c) : null,
      h('section', { 'aria-labelledby': 'h-content' },
        h('h2', { id: 'h-content' }, 'Content'),
        h('div', { className: 'content', tabIndex: 0, role: 'region', 'aria-labelledby': 'h-content' }, c.content)));
    view.setAttribute('aria-busy', 'false');
    if (hadFocus) document.getElementById('reprocess')?.focus();
    if (deleteHadFocus) del.button.focus();
    if (headingHadFocus) view.querySelector('h1').focus();
  }

  function follow(c) {
    watcher?.stop();
    watcher = null;
    if (isFinal(c.ai_status)) return;
    watcher = watch(app.api, c.id, etag, (next) => {
      show(next);
      if (isFinal(next.ai_status)) announce(`The analysis is ${next.ai_status}.`);
    });
  }

  async function again(c) {
    const button = document.getElementById('reprocess');
    button.setAttribute('aria-disabled', 'true');
    try {
      const { data } = await app.api.reprocess(c.id);
      etag = null;
      show(data);
      announce('A new analysis run is queued.');
      follow(data);
    } catch (err) {
      if (err.status === 401) return;
      button.removeAttribute('aria-disabled');
      button.after(h('p', { className: 'error', role: 'alert' }, err.message));
    }
  }

  (async () => {
    try {
      const r = await app.api.get(id);
      etag = r.etag;
      show(r.data);
      view.querySelector('h1').focus();
      follow(r.data);
    } catch (err) {
      if (err.status === 401) return;
      replace(view,
        h('p', {}, h('a', { href: '#/' }, '← All conversations')),
        h('h1', { tabIndex: -1 }, err.status === 404 ? 'Not found' : 'Could not load'),
        h('p', { className: 'error', role: 'alert' }, err.message));
      view.setAttribute('aria-busy', 'false');
    }
  })();

  return () => watcher?.stop();
}

function fact(name, value) {
  return h('div', {}, h('dt', {}, name), h('dd', {}, value));
}

function analysis(c) {
  return [
    h('section', { 'aria-labelledby': 'h-summary' }, h('h2', { id: 'h-summary' }, 'Summary'), h('p', { className: 'summary' }, c.ai_summary ?? '')),
    h('section', { 'aria-labelledby': 'h-actions' }, h('h2', { id: 'h-actions' }, 'Action items'),
      c.ai_action_items.length
        ? h('ul', { className: 'actions-list' }, c.ai_action_items.map((a) => h('li', {}, a)))
        : h('p', { className: 'muted' }, 'None found.')),
    h('section', { 'aria-labelledby': 'h-keywords' }, h('h2', { id: 'h-keywords' }, 'Keywords'),
      c.ai_keywords.length
        ? h('ul', { className: 'chips' }, c.ai_keywords.map((k) => h('li', {}, k)))
        : h('p', { className: 'muted' }, 'None found.')),
  ];
}
