// Timing helpers for live prediction: a debounce, and "latest only" sending, so that requests never pile up behind
// each other while a learner draws. No DOM.

/**
 * fn runs `ms` after the last call; .flush() runs a pending call now, .cancel() drops it.
 * @template {any[]} A  @param {(...args: A) => void} fn  @param {number} ms
 */
export function debounce(fn, ms) {
  let timer = null, args = null;
  const run = () => { timer = null; const a = args; args = null; fn(...a); };
  const d = (...a) => { args = a; clearTimeout(timer); timer = setTimeout(run, ms); };
  d.flush = () => { if (timer !== null) { clearTimeout(timer); run(); } };
  d.cancel = () => { clearTimeout(timer); timer = null; args = null; };
  return d;
}

/**
 * At most one request in flight. A request made while one is out replaces any earlier waiting one and goes out when
 * the one in flight returns: the server always gets the latest drawing, never a queue of stale ones.
 * `make` builds the payload at send time (e.g. the canvas's data URL), so only what is sent is encoded.
 * @param {(payload: any) => Promise<any>} send
 * @param {{onResult: (result: any, tag: any) => void, onError: (error: Error, tag: any) => void}} handlers
 */
export function latestOnly(send, { onResult, onError }) {
  let inFlight = false;
  let waiting = null; // {make, tag}

  async function pump(job) {
    inFlight = true;
    try {
      const result = await send(job.make());
      onResult(result, job.tag);  // still true of its own drawing: show it while the newer one is computed
    } catch (err) {
      if (!waiting) onError(err, job.tag);  // a newer drawing may not have the problem
    } finally {
      inFlight = false;
      if (waiting) {
        const next = waiting;
        waiting = null;
        pump(next);
      }
    }
  }

  return {
    /** @param {() => any} make  @param {any} [tag] passed back with the result (e.g. a drawing version) */
    request(make, tag) {
      const job = { make, tag };
      if (inFlight) waiting = job;
      else pump(job);
    },
    /** Forget a waiting job (e.g. the pad was cleared); the one in flight still reports. */
    drop() { waiting = null; },
    get busy() { return inFlight; },
  };
}
