// The sign-in view, shown instead of any other while nobody is signed in.
// app.signInMessage says why (an expired token); a draft being written is
// kept in sessionStorage meanwhile, so nothing typed is lost.

import { h } from '../dom.js';
import { beginSignIn, signInWith } from '../auth.js';

export function mount(root, _params, app) {
  const message = app.signInMessage
    ? h('p', { className: 'notice', role: 'alert' }, app.signInMessage)
    : null;
  if (app.config.auth === 'oidc') {
    const error = h('p', { className: 'error', role: 'alert', hidden: true });
    const button = h('button', {
      type: 'button',
      className: 'primary',
      onclick: async () => {
        button.disabled = true;
        try {
          await beginSignIn(app.config);
        } catch (err) {
          error.hidden = false;
          error.textContent = err.message;
          button.disabled = false;
        }
      },
    }, 'Sign in');
    root.append(h('section', { className: 'card narrow' },
      h('h1', { tabIndex: -1 }, 'Sign in to Recall'),
      message,
      h('p', {}, `You sign in with ${new URL(app.config.issuer).host}.`),
      button, error));
    return undefined;
  }

  const input = h('input', {
    id: 'signin-link', type: 'text', autocomplete: 'off', spellcheck: false,
    required: true, 'aria-describedby': 'signin-help',
  });
  const error = h('p', { id: 'signin-error', className: 'error', role: 'alert', hidden: true });
  const form = h('form', {
    className: 'stack',
    onsubmit: (e) => {
      e.preventDefault();
      if (!signInWith(input.value)) {
        error.hidden = false;
        error.textContent = 'That is neither a sign-in link nor a token. Paste the whole link recall printed.';
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      input.value = '';
      app.signedIn();
    },
  },
  h('label', { for: 'signin-link' }, 'Sign-in link or token'),
  input,
  h('p', { id: 'signin-help', className: 'muted' },
    'Run ', h('code', {}, 'recall token --user NAME --link'),
    ' where Recall runs (', h('code', {}, 'recall serve'), ' prints one at start) and open the link, or paste it here.'),
  error,
  h('button', { type: 'submit', className: 'primary' }, 'Sign in'));
  root.append(h('section', { className: 'card narrow' },
    h('h1', { tabIndex: -1 }, 'Sign in to Recall'), message, form));
  return undefined;
}
