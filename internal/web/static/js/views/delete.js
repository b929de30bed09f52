// Deleting a conversation: a button that asks first, in a modal dialog
// (the browser's own <dialog>: focus moves into it and stays there, Escape
// cancels, and focus returns to the button), with Cancel focused so Enter
// alone never deletes.

import { h, titleOf, announce } from '../dom.js';

/** deleteButton returns the Delete button of conversation c and the dialog
 * it opens, for the caller to place; on confirmation it deletes c and goes
 * back to the list. */
export function deleteButton(c, app) {
  const error = h('p', { className: 'error', role: 'alert', hidden: true });
  const confirm = h('button', { type: 'button', id: 'delete-confirm', className: 'danger', onclick: remove }, 'Delete');
  const cancel = h('button', { type: 'button', id: 'delete-cancel', autofocus: true, onclick: () => dialog.close() }, 'Cancel');
  const dialog = h('dialog', { id: 'delete-dialog', 'aria-labelledby': 'delete-title', 'aria-describedby': 'delete-what' },
    h('h2', { id: 'delete-title' }, 'Delete this conversation?'),
    h('p', { id: 'delete-what' }, `“${titleOf(c)}”, its analysis and its search entry are deleted for good. This cannot be undone.`),
    error,
    h('div', { className: 'actions' }, cancel, confirm));
  const button = h('button', {
    type: 'button', id: 'delete', className: 'danger-quiet', 'aria-haspopup': 'dialog',
    onclick: () => { error.hidden = true; dialog.showModal(); cancel.focus(); },
  }, 'Delete…');

  async function remove() {
    confirm.disabled = true;
    try {
      await app.api.remove(c.id);
    } catch (err) {
      // Already gone (deleted in another tab) is what was asked for.
      if (err.status !== 404) {
        confirm.disabled = false;
        if (err.status !== 401) {
          error.textContent = err.message;
          error.hidden = false;
        }
        return;
      }
    }
    dialog.close();
    announce(`“${titleOf(c)}” was deleted.`);
    location.hash = '#/';
  }

  return { button, dialog };
}
