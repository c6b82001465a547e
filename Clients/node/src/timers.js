// Timers for any delay a caller can give. Node's setTimeout takes at most 2^31 - 1 ms (about
// 24.8 days): a longer delay (a reserve() timeout of '25d', a commandTimeoutMs of 3e9) fires after
// 1 ms instead, with a TimeoutOverflowWarning. Every timer whose delay comes from an option or an
// argument goes through setTimer, which waits out a longer delay in steps.

/** The longest delay Node's setTimeout takes as it is. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer made by setTimer: `clear()` stops it, `unref()` lets the process exit while it waits. */
export class Timer {
  /** @param {() => void} fn @param {number} ms */
  constructor(fn, ms) {
    /** @internal */
    this._fn = fn;
    /** @internal ms still to wait after the current step */
    this._left = ms;
    /** @type {NodeJS.Timeout|null} @internal the current step */
    this._step = null;
    /** @internal */
    this._unref = false;
    if (ms !== Infinity) this._arm();
  }

  /** @internal */
  _arm() {
    const step = Math.min(this._left, MAX_TIMER_MS);
    this._left -= step;
    this._step = setTimeout(() => {
      this._step = null;
      if (this._left > 0) this._arm();
      else this._fn();
    }, step);
    if (this._unref) this._step.unref?.();
  }

  /** True until it has fired or was cleared (never for an Infinity timer: it does not wait). */
  get pending() {
    return this._step !== null;
  }

  clear() {
    if (this._step) clearTimeout(this._step);
    this._step = null;
    this._left = 0;
  }

  /** @returns {this} */
  unref() {
    this._unref = true;
    this._step?.unref?.();
    return this;
  }
}

/**
 * Calls `fn` once after `ms` milliseconds, however long that is; `Infinity` never does (no
 * limit). The delay must have been checked by the caller: a negative one or NaN throws.
 * @param {() => void} fn @param {number} ms
 * @returns {Timer}
 */
export function setTimer(fn, ms) {
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms < 0) throw new RangeError(`a timer needs a delay of 0 or more milliseconds (got ${String(ms)})`);
  return new Timer(fn, ms);
}

/** Stops a timer made by setTimer; nothing for null or undefined. @param {Timer|null|undefined} timer */
export function clearTimer(timer) {
  timer?.clear();
}
