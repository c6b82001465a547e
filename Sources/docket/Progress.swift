#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress display on standard error, redrawn in place (`\r`, erase to the end of
/// the line), at most ten times a second. Disabled, every call does nothing, so callers need no
/// checks. Other output to the terminal goes through `clear()` first, and the next update draws
/// the bar again below it.
final class ProgressBar: @unchecked Sendable {
    /// Whether standard error is a terminal that understands the redraw.
    static var stderrIsTerminal: Bool { isatty(2) != 0 && environment("TERM") != "dumb" }

    let label: String
    /// The amount that is 100%, in the caller's units (bytes of a file); nil when unknown.
    let total: Int64?
    let enabled: Bool
    private let lock = PosixMutex()
    private let startedAt = monotonicMilliseconds()
    private var lastDrawAt: Int64 = -1_000
    private var drawn = false
    private var done: Int64 = 0
    private var count = 0
    private var spinnerStep = 0

    init(label: String, total: Int64?, enabled: Bool) {
        self.label = label
        self.total = total
        self.enabled = enabled
    }

    /// `done` of `total` units so far, and `count` things (jobs) made. Drawn if the last
    /// drawing is 100 ms old, or at once with `force`.
    func update(done: Int64, count: Int, force: Bool = false) {
        guard enabled else { return }
        lock.withLock {
            self.done = done
            self.count = count
            let now = monotonicMilliseconds()
            guard force || now - lastDrawAt >= 100 else { return }
            lastDrawAt = now
            spinnerStep += 1
            draw(now)
        }
    }

    /// Redraws with what is known (a spinner's next step, the elapsed time).
    func tick() {
        guard enabled else { return }
        lock.withLock {
            spinnerStep += 1
            let now = monotonicMilliseconds()
            lastDrawAt = now
            draw(now)
        }
    }

    /// Erases the bar, so that a line can be written where it was.
    func clear() {
        guard enabled else { return }
        lock.withLock {
            if drawn { writeStderr("\r\u{1B}[K") }
            drawn = false
        }
    }

    /// The line as drawn now (without the redraw codes).
    func line(at now: Int64) -> String {
        let elapsed = Double(now - startedAt) / 1000
        var parts = [label]
        let columns = terminalColumns()
        var tail: [String] = []
        if count > 0 || total != nil {
            tail.append("\(grouped(count)) job\(count == 1 ? "" : "s")")
            if elapsed >= 0.5 { tail.append("\(grouped(Int(Double(count) / elapsed)))/s") }
        }
        if let total, total > 0 {
            let fraction = min(1, max(0, Double(done) / Double(total)))
            if fraction > 0, fraction < 1, elapsed >= 1 {
                tail.append("ETA \(formatSeconds(elapsed / fraction - elapsed))")
            }
            let percent = "\(Int(fraction * 100))%".leftPadded(to: 4)
            let fixed = label.count + percent.count + tail.joined(separator: "  ").count + 9
            let width = max(10, min(40, columns - fixed))
            let filled = Int(fraction * Double(width))
            parts.append("[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]")
            parts.append(percent)
        } else {
            let frames = ["|", "/", "-", "\\"]
            parts.append(frames[spinnerStep % frames.count])
            tail.append(formatSeconds(elapsed))
        }
        let text = (parts + tail).joined(separator: "  ")
        return text.count < columns ? text : String(text.prefix(max(1, columns - 1)))
    }

    private func draw(_ now: Int64) {
        writeStderr("\r" + line(at: now) + "\u{1B}[K")
        drawn = true
    }

    /// Runs `body` (one long call to the server) with the spinner turning on a thread of its
    /// own, then erases it.
    func spinning<T>(_ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        tick()
        let ticker = Ticker(everyMilliseconds: 100) { [self] in tick() }
        defer {
            ticker.stop()
            clear()
        }
        return try body()
    }
}

/// Calls `tick` every so often on a thread of its own, until `stop()`.
final class Ticker: @unchecked Sendable {
    private let lock = PosixMutex()
    private var stopped = false
    private let period: Int
    private let tick: @Sendable () -> Void
    #if canImport(Darwin)
    private var thread: pthread_t?
    #else
    private var thread = pthread_t()
    #endif

    init(everyMilliseconds period: Int, _ tick: @escaping @Sendable () -> Void) {
        self.period = period
        self.tick = tick
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(
            &thread, nil,
            { raw in
                #if canImport(Darwin)
                let ticker = Unmanaged<Ticker>.fromOpaque(raw).takeRetainedValue()
                #else
                let ticker = Unmanaged<Ticker>.fromOpaque(raw!).takeRetainedValue()
                #endif
                ticker.loop()
                return nil
            }, context)
        if status != 0 {
            Unmanaged<Ticker>.fromOpaque(context).release()
            stopped = true
        }
    }

    private func loop() {
        while true {
            var pause = timespec(tv_sec: period / 1000, tv_nsec: (period % 1000) * 1_000_000)
            var left = timespec()
            while nanosleep(&pause, &left) != 0 && errno == EINTR { pause = left }
            if lock.withLock({ stopped }) { return }
            tick()
        }
    }

    /// Stops the ticks and waits for the thread (a tick under way ends first).
    func stop() {
        let wasStopped = lock.withLock { () -> Bool in
            defer { stopped = true }
            return stopped
        }
        guard !wasStopped else { return }
        #if canImport(Darwin)
        if let thread { pthread_join(thread, nil) }
        #else
        pthread_join(thread, nil)
        #endif
    }
}

/// The monotonic clock, in milliseconds.
func monotonicMilliseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
}

/// The width of the terminal on standard error (or standard output), 80 when unknown.
func terminalColumns() -> Int {
    var size = winsize()
    for fd: Int32 in [2, 1] where ioctl(fd, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 {
        return Int(size.ws_col)
    }
    return 80
}

/// 12345 as 12,345.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, digit) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(digit)
    }
    return value < 0 ? "-" + out : out
}

/// 250ms, 4.2s, 3m05s, 1h02m.
func formatSeconds(_ seconds: Double) -> String {
    let whole = Int(seconds.rounded(.down))
    if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
    if whole < 60 { return seconds < 10 ? "\(Double(Int(seconds * 10)) / 10)s" : "\(whole)s" }
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    if whole < 3600 { return "\(whole / 60)m\(two(whole % 60))s" }
    if whole < 86_400 { return "\(whole / 3600)h\(two(whole / 60 % 60))m" }
    return "\(whole / 86_400)d\(two(whole / 3600 % 24))h"
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }

    func rightPadded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
