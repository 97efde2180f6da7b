/**
 * setTimeout / clearTimeout / setInterval / clearInterval for QuickJS guests. A timer is a host
 * promise ('sleep', settled by a host timer) that the callback waits on, so a plugin waiting on a
 * timer is an async call waiting on host work like fetch: bounded by the call's async deadline
 * (a timer beyond it never fires; the call ends with ERR_PLUGIN_TIMEOUT). clearTimeout cancels
 * the host timer too ('cancel'), so a cleared timer holds nothing on the host.
 */
export const GUEST_TIMERS = `
const liveTimers = create(null);
let nextTimer = 1;
const makeTimers = (ocall) => {
  const delay = (ms) => { const d = NumberCtor(ms); return d >= 0 ? d : 0; };
  const arm = (id, cb, ms, args, repeat) => {
    apply(promiseThen, ocall('sleep', ms, id), [() => {
      if (!liveTimers[id]) return;
      if (repeat) arm(id, cb, ms, args, true); else delete liveTimers[id];
      apply(cb, undefined, args);
    }]);
  };
  const start = (cb, ms, args, repeat) => {
    if (typeof cb !== 'function') throw typeErr('timers: the callback must be a function (strings are not evaluated)');
    const id = nextTimer++;
    liveTimers[id] = true;
    arm(id, cb, delay(ms), args, repeat);
    return id;
  };
  const clear = (id) => {
    if (typeof id !== 'number' || !liveTimers[id]) return;
    delete liveTimers[id];
    ocall('cancel', null, id);
  };
  return {
    setTimeout: function setTimeout(cb, ms, ...args) { return start(cb, ms, args, false); },
    setInterval: function setInterval(cb, ms, ...args) { return start(cb, ms, args, true); },
    clearTimeout: function clearTimeout(id) { clear(id); },
    clearInterval: function clearInterval(id) { clear(id); },
  };
};
`;
