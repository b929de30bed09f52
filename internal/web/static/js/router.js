// A small router over the address's fragment ("#/", "#/conversations/ID").
// Fragments rather than paths because the server (and the web function on
// AWS) serves the page only at "/": a reload of any view still lands on it.
// A view is a module with mount(root, params, app) → cleanup function;
// adding a view is one entry in the table main.js gives the router, which
// calls render on every hashchange.

export function createRouter(routes, { root, app, notFound }) {
  let cleanup = null;

  function match(path) {
    for (const r of routes) {
      const m = r.pattern.exec(path);
      if (m) return { route: r, params: m.slice(1).map(decodeURIComponent) };
    }
    return null;
  }

  function render({ focus = true } = {}) {
    if (cleanup) cleanup();
    cleanup = null;
    const path = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
    const found = match(path);
    root.replaceChildren();
    if (!found) {
      cleanup = notFound.mount(root, [], app) ?? null;
      return;
    }
    document.title = found.route.title ? `${found.route.title} · Recall` : 'Recall';
    cleanup = found.route.view.mount(root, found.params, app) ?? null;
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.getAttribute('href') === `#${found.route.nav ?? ''}`) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    // Move focus to the new view's heading, so keyboard and screen-reader
    // users start there rather than on the link they left.
    if (focus) root.querySelector('h1')?.focus();
  }

  return {
    render,
    stop() {
      if (cleanup) cleanup();
      cleanup = null;
    },
  };
}
