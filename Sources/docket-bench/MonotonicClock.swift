#if canImport(Glibc)
import Glibc
#endif

/// Nanosecond timestamps that never jump, for timing runs and bounding them.
enum MonotonicClock {
    /// Now, in nanoseconds since an arbitrary fixed point. CLOCK_MONOTONIC is served from
    /// the vDSO, so the hot loops can afford to read it once per socket read.
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// Seconds from `start` to `end`; zero if `end` is not after `start`.
    static func seconds(from start: UInt64, to end: UInt64) -> Double {
        end > start ? Double(end - start) / 1e9 : 0
    }
}
