// Watching a conversation until its analysis is final, cheaply: each poll
// sends the ETag it holds and the server answers 304 (no body) while
// nothing changed. The wait starts at 500 ms and doubles up to 8 s while
// nothing changes, starts again at 500 ms on any change (pending →
// processing usually means done is near), stops at done or failed, and
// pauses while the tab is hidden. Polling rather than server-sent events,
// because API Gateway's HTTP APIs do not stream.

export const MIN_DELAY = 500;
export const MAX_DELAY = 8000;

const final = (status) => status === 'done' || status === 'failed';

/**
 * watch polls conversation id; onChange gets each new version. It returns
 * { stop }. etag is the version the caller already shows (or null).
 */
export function watch(api, id, etag, onChange) {
  let delay = MIN_DELAY;
  let timer = null;
  let busy = false;
  let stopped = false;

  async function tick() {
    timer = null;
    if (stopped || document.hidden) return;
    busy = true;
    try {
      const r = await api.get(id, etag);
      if (stopped) return;
      if (r.status === 304) {
        delay = Math.min(delay * 2, MAX_DELAY);
      } else {
        etag = r.etag;
        delay = MIN_DELAY;
        onChange(r.data);
        if (final(r.data.ai_status)) {
          stop();
          return;
        }
      }
    } catch (err) {
      // Signed out or gone: nothing more to watch. Anything else (a
      // network blip, a 503) is retried, more slowly.
      if (err.status === 401 || err.status === 404) {
        stop();
        return;
      }
      delay = Math.min(delay * 2, MAX_DELAY);
    } finally {
      busy = false;
    }
    schedule();
  }

  function schedule() {
    if (!stopped && !document.hidden && !busy && timer === null) timer = setTimeout(tick, delay);
  }

  function visibility() {
    clearTimeout(timer);
    timer = null;
    if (!document.hidden) {
      // Back in view: look at once, things may have moved meanwhile.
      delay = MIN_DELAY;
      if (!busy) tick();
    }
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', visibility);
  }

  document.addEventListener('visibilitychange', visibility);
  schedule();
  return { stop };
}

export { final as isFinal };
