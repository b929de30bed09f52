// Building the page from data. Everything a person wrote (titles, content,
// summaries) reaches the DOM only as text nodes: h() never parses HTML, so
// "<img src=x onerror=alert(1)>" shows as those characters and runs nothing.

/**
 * h creates an element. attrs sets properties (className, hidden, …),
 * "on…" listeners, and attributes for names with a dash (aria-*, data-*)
 * or in attr. Children are nodes or strings (made text nodes); null and
 * false are skipped; arrays are flattened.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k.includes('-') || k === 'for' || k === 'role' || k === 'list' || k === 'datetime') {
      el.setAttribute(k, v === true ? '' : String(v));
    } else {
      el[k] = v;
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** replace empties el and puts children in it. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const numbers = new Intl.NumberFormat();

/** when renders an RFC 3339 time as a <time> element. */
export function when(iso) {
  if (!iso) return h('span', { className: 'muted' }, '—');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: d.toISOString() }, dateTime.format(d));
}

/** count formats an integer for people ("100,000"). */
export const count = (n) => numbers.format(n);

/** chars counts characters the way the server does: code points, so a
 * surrogate pair (an emoji) is one. */
export function chars(s) {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n--; i++; }
    }
  }
  return n;
}

/** badge shows a conversation's ai_status. */
export function badge(status) {
  return h('span', { className: `badge badge-${status}` }, status);
}

/** titleOf is what a conversation is called on screen. */
export function titleOf(c) {
  return c.title.trim() || 'Untitled conversation';
}

/** announce tells screen readers about a change they cannot see. */
export function announce(text) {
  const region = document.getElementById('announce');
  region.textContent = '';
  // A fresh text node after a tick is announced even if it repeats.
  setTimeout(() => { region.textContent = text; }, 50);
}
