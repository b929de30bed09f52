// Recall's web app: boot, sign-in gate, and the table of views. A new view
// (search, action items) is a module under views/ and one entry in routes.

import { h } from './dom.js';
import { createApi } from './api.js';
import { createRouter } from './router.js';
import * as auth from './auth.js';
import * as signin from './views/signin.js';
import * as list from './views/list.js';
import * as conversation from './views/conversation.js';
import * as items from './views/items.js';
import * as search from './views/search.js';

const routes = [
  { pattern: /^\/$/, view: list, title: 'Conversations', nav: '/' },
  { pattern: /^\/conversations\/([0-9A-Za-z]{26})$/, view: conversation, title: 'Conversation', nav: '/' },
  { pattern: /^\/action-items$/, view: items, title: 'My action items', nav: '/action-items' },
  { pattern: /^\/search$/, view: search, title: 'Search', nav: '/search' },
  { pattern: /^\/search\/(.+)$/, view: search, title: 'Search', nav: '/search' },
];

const nav = [
  { href: '#/', label: 'Conversations' },
  { href: '#/search', label: 'Search' },
  { href: '#/action-items', label: 'My action items' },
];

const notFound = {
  mount(root) {
    root.append(h('h1', { tabIndex: -1 }, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to your conversations')));
  },
};

async function boot() {
  const main = document.getElementById('main');
  const signOutButton = document.getElementById('signout');
  // Before anything else: a token in the address is moved out of it.
  auth.takeFragmentToken();

  let config;
  try {
    const res = await fetch('/config.json', { cache: 'no-cache', credentials: 'omit' });
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
    config = await res.json();
  } catch (err) {
    main.replaceChildren(h('h1', {}, 'Recall is not reachable'), h('p', { className: 'error' }, `Its configuration could not be loaded: ${err.message}.`));
    return;
  }

  const app = {
    config,
    signInMessage: null,
    api: createApi({ token: auth.token, onUnauthorized: (err) => app.expired(err) }),
    signedIn() {
      app.signInMessage = null;
      show();
    },
    expired(err) {
      auth.signOut();
      app.signInMessage = `You have been signed out (${err.message}). Sign in again; what you were writing is kept.`;
      show();
    },
  };

  const router = createRouter(routes, { root: main, app, notFound });
  let first = true;

  function show() {
    const signedIn = Boolean(auth.token());
    signOutButton.hidden = !signedIn;
    document.getElementById('nav').replaceChildren(
      ...(signedIn ? nav.map((n) => h('a', { href: n.href }, n.label)) : []));
    if (!signedIn) {
      router.stop();
      main.replaceChildren();
      document.title = 'Sign in · Recall';
      signin.mount(main, [], app);
      if (app.signInMessage) main.querySelector('h1')?.focus();
      return;
    }
    router.render({ focus: !first });
    first = false;
  }

  signOutButton.addEventListener('click', () => {
    auth.signOut();
    app.signInMessage = 'You signed out.';
    show();
  });

  window.addEventListener('hashchange', () => {
    // A sign-in link opened in a tab already showing Recall changes only
    // the fragment: no new page load, so it is taken here too.
    if (auth.takeFragmentToken()) app.signInMessage = null;
    show();
  });
  if (config.auth === 'oidc' && auth.isRedirect()) {
    try {
      await auth.completeSignIn(config);
    } catch (err) {
      app.signInMessage = err.message;
    }
  }
  show();
}

boot();
