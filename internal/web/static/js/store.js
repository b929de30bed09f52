// What the page keeps in sessionStorage: it lives as long as the tab, is
// never sent anywhere, and is gone when the tab closes. Keys are namespaced
// so other apps on the same origin cannot collide with them.

const prefix = 'recall.';

export function get(key) {
  try {
    const v = sessionStorage.getItem(prefix + key);
    return v === null ? null : JSON.parse(v);
  } catch {
    return null;
  }
}

export function set(key, value) {
  try {
    if (value === null || value === undefined) sessionStorage.removeItem(prefix + key);
    else sessionStorage.setItem(prefix + key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the page still works, it only forgets.
  }
}

export const remove = (key) => set(key, null);
