// Watching a conversation until its analysis is final, cheaply: each poll
// sends the ETag it holds and the server answers 304 (no body) while
// nothing changed. Polling rather than server-sent events, because API
// Gateway's HTTP APIs do not stream.
//
// The wait is what decides how late "done" shows: the page learns of it at
// the first poll after it happens. So the wait starts at 250 ms and
// doubles only up to 1 s while nothing changes, and starts again at 250 ms
// on any change (pending → processing usually means done is near): done
// shows within about a second, for about one small 304 a second. Beyond
// that the wait grows only where a second's promptness buys little:
//   - after 2 minutes without any change (longer than one analysis may
//     take, so the conversation is queued behind others or waiting to be
//     retried) it may grow to 5 s;
//   - the watchers of one page share a budget of about 2 polls a second:
//     with more than two, each waits its share (watchers / 2 seconds) from
//     the start, so a list with ten in progress polls each every 5 s;
//   - a failed poll (network, 429, 503) backs off up to 8 s.
// Polling stops at done or failed, and pauses while the tab is hidden.

export const MIN_DELAY = 250;
export const MAX_DELAY = 1000;
export const QUIET_AFTER = 120000;
export const QUIET_DELAY = 5000;
export const PAGE_BUDGET = 2; // polls per second, all watchers of the page together
export const ERROR_DELAY = 8000;

const final = (status) => status === 'done' || status === 'failed';

// The watchers running in this page, for the shared budget.
const running = new Set();

/**
 * nextDelay is the wait before the next poll, given the last one (delay;
 * 0 after a change), how long nothing has changed (quietFor, ms), how many
 * watchers the page runs, and whether the last poll failed.
 */
export function nextDelay(delay, { quietFor = 0, watchers = 1, failed = false } = {}) {
  if (failed) return Math.min(Math.max(delay, MIN_DELAY) * 2, ERROR_DELAY);
  const share = (watchers * 1000) / PAGE_BUDGET;
  const floor = watchers > PAGE_BUDGET ? share : MIN_DELAY;
  const ceiling = Math.max(quietFor >= QUIET_AFTER ? QUIET_DELAY : MAX_DELAY, share);
  return Math.min(Math.max(delay * 2, floor), ceiling);
}

/**
 * watch polls conversation id; onChange gets each new version. It returns
 * { stop }. etag is the version the caller already shows (or null).
 */
export function watch(api, id, etag, onChange) {
  let delay = MIN_DELAY;
  let changed = Date.now();
  let timer = null;
  let busy = false;
  let stopped = false;
  const self = {};

  async function tick() {
    timer = null;
    if (stopped || document.hidden) return;
    busy = true;
    try {
      const r = await api.get(id, etag);
      if (stopped) return;
      if (r.status === 304) {
        delay = nextDelay(delay, { quietFor: Date.now() - changed, watchers: running.size });
      } else {
        etag = r.etag;
        delay = nextDelay(0, { watchers: running.size });
        changed = Date.now();
        onChange(r.data);
        if (final(r.data.ai_status)) {
          stop();
          return;
        }
      }
    } catch (err) {
      // Signed out or gone: nothing more to watch. Anything else (a
      // network blip, a 429 or 503) is retried, more slowly.
      if (err.status === 401 || err.status === 404) {
        stop();
        return;
      }
      delay = nextDelay(delay, { failed: true });
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
      delay = nextDelay(0, { watchers: running.size });
      if (!busy) tick();
    }
  }

  function stop() {
    stopped = true;
    running.delete(self);
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', visibility);
  }

  running.add(self);
  document.addEventListener('visibilitychange', visibility);
  schedule();
  self.stop = stop;
  return self;
}

export { final as isFinal };
