/// One log line per interval for something that can happen at message rate (a refused routed
/// publish, a refused connection): the first occurrence is logged at once, later ones are
/// counted, and the next line, an interval on, says how many it stands for. A full store under
/// a busy publisher otherwise wrote a warning per message.
struct LogThrottle {
    let intervalMilliseconds: Int
    private var lastLine: Int?
    private var unlogged = 0

    init(intervalMilliseconds: Int = 10_000) {
        self.intervalMilliseconds = intervalMilliseconds
    }

    /// Counts one occurrence at `now` (milliseconds, any monotonic origin); returns how many
    /// occurrences a line logged now stands for (this one included), or nil to stay quiet.
    mutating func occurred(at now: Int) -> Int? {
        unlogged += 1
        guard lastLine.map({ now - $0 >= intervalMilliseconds }) ?? true else { return nil }
        lastLine = now
        defer { unlogged = 0 }
        return unlogged
    }
}
