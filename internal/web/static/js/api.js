// The HTTP API as the page uses it: the same routes and shapes the OpenAPI
// document at /api/openapi.json describes. Every call carries the bearer
// token; a 401 hands control to the sign-in flow (onUnauthorized) and still
// rejects, so the caller can keep what the person typed.

/** ApiError is a failed call: the server's error code and message, which
 * are meant to be shown to people as they are. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function createApi({ token, onUnauthorized }) {
  async function call(method, path, { body, headers = {}, etag } = {}) {
    const h = { Accept: 'application/json', ...headers };
    const t = token();
    if (t) h.Authorization = `Bearer ${t}`;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (etag) h['If-None-Match'] = etag;
    let res;
    try {
      res = await fetch(path, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(0, 'network', 'Recall could not be reached. Check the connection and try again.');
    }
    if (res.status === 304) return { status: 304, etag: res.headers.get('ETag') };
    let data = null;
    try {
      if (res.status !== 204) data = await res.json();
    } catch {
      // Not JSON (a proxy's error page); the status says enough.
    }
    if (!res.ok) {
      const err = new ApiError(
        res.status,
        data?.error?.code ?? `http_${res.status}`,
        data?.error?.message ?? `The server answered ${res.status} ${res.statusText}.`,
      );
      if (res.status === 401) onUnauthorized(err);
      throw err;
    }
    return { status: res.status, data, etag: res.headers.get('ETag') };
  }

  const enc = encodeURIComponent;
  return {
    list: (cursor, limit = 20) =>
      call('GET', `/api/conversations?limit=${limit}${cursor ? `&cursor=${enc(cursor)}` : ''}`),
    get: (id, etag) => call('GET', `/api/conversations/${enc(id)}`, { etag }),
    create: (body, key) => call('POST', '/api/conversations', { body, headers: { 'Idempotency-Key': key } }),
    reprocess: (id) => call('POST', `/api/conversations/${enc(id)}/reprocess`),
    actionItems: ({ status = 'open', limit = 100, cursor } = {}) =>
      call('GET', `/api/action-items?status=${enc(status)}&limit=${limit}${cursor ? `&cursor=${enc(cursor)}` : ''}`),
    setItemDone: (id, itemID, done) =>
      call('PATCH', `/api/conversations/${enc(id)}/action-items/${enc(itemID)}`, { body: { done } }),
    search: (q, cursor, limit = 10) =>
      call('GET', `/api/search?q=${enc(q)}&limit=${limit}${cursor ? `&cursor=${enc(cursor)}` : ''}`),
    remove: (id) => call('DELETE', `/api/conversations/${enc(id)}`),
  };
}
