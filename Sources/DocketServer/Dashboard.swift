import DocketEngine
import DocketWire
import Glibc

/// What the dashboard needs from the server beyond its documents: the lifecycle events it
/// remembers (for a job's page and the start of a live tail), the live tails themselves, the
/// hour of activity behind the charts, and the token that tells its own POSTs from a forged
/// cross-site one.
final class Dashboard {
    /// One remembered event: enough to filter it, and its JSON as published.
    struct Event {
        let queue: String
        let id: UInt64
        let json: [UInt8]
    }

    /// A live tail: its stream, the queue it follows (nil: all) and who reads it.
    private struct Tail {
        let stream: HTTPStream
        let queue: String?
        let permissions: Permissions?
    }

    /// Events kept, newest last.
    static let memory = 10_000
    /// How long after the last request the dashboard counts as open (events are recorded only
    /// while someone looks, or subscribes: they cost nothing otherwise).
    static let attentionMilliseconds: Int64 = 10 * 60_000

    let csrfToken: String
    private var events: [Event] = []
    private var oldest = 0
    private var tails: [ObjectIdentifier: Tail] = [:]
    /// nil until the first request: no page has looked yet.
    private var lastRequestAt: Int64?
    var series = ActivitySeries()

    init() {
        var generator = SystemRandomNumberGenerator()
        csrfToken = (0..<4).map { _ in
            let word = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - word.count) + word
        }.joined()
        events.reserveCapacity(Self.memory)
    }

    /// Whether events should be recorded: a tail is open, or a page asked for something lately.
    func isWatched(now: Int64) -> Bool {
        if !tails.isEmpty { return true }
        guard let lastRequestAt else { return false }
        return now &- lastRequestAt < Self.attentionMilliseconds
    }

    func noteRequest(now: Int64) { lastRequestAt = now }

    /// How much of an event's error and note the dashboard keeps (a job's page has its whole last
    /// error). Each may be as large as a payload, and the dashboard remembers `memory` events: with
    /// them whole, 200 FAILs of 1 MiB held 520 MB, and a tail's first events went past
    /// `--http-max-stream-backlog`, so the live view was closed and reopened, never showing one.
    static let textBytesKept = FailedAttempt.errorBytesKept

    /// An event as the dashboard keeps it: as published, but with its error and note cut to
    /// `textBytesKept` bytes (at a character's start) and an ellipsis.
    static func kept(_ event: LifecycleEvent, published: [UInt8]) -> [UInt8] {
        let limit = textBytesKept
        guard (event.error?.count ?? 0) > limit || (event.note?.count ?? 0) > limit else { return published }
        func cut(_ text: [UInt8]) -> [UInt8] {
            guard text.count > limit else { return text }
            var end = limit
            // A byte 10xxxxxx continues a character: the cut goes before that character.
            while end > 0 && text[end] & 0xC0 == 0x80 { end -= 1 }
            return Array(text[..<end]) + Array("\u{2026}".utf8)
        }
        var shortened = event
        shortened.error = event.error.map(cut)
        shortened.note = event.note.map(cut)
        var json: [UInt8] = []
        shortened.appendJSON(to: &json)
        return json
    }

    /// Keeps an event and sends it to the tails that follow its queue.
    func record(queue: String, id: UInt64, json: [UInt8]) {
        let event = Event(queue: queue, id: id, json: json)
        if events.count < Self.memory {
            events.append(event)
        } else {
            events[oldest] = event
            oldest = (oldest + 1) % Self.memory
        }
        guard !tails.isEmpty else { return }
        let frame = Self.frame(json)
        let name = Array(queue.utf8)
        for tail in tails.values where tail.queue == nil || tail.queue == queue {
            if let permissions = tail.permissions, !permissions.may(.read, queue: name) { continue }
            tail.stream.send(frame)
        }
    }

    /// Remembered events, oldest first, that `keep` accepts; at most `limit`, the newest ones.
    func remembered(limit: Int, where keep: (Event) -> Bool) -> [Event] {
        var found: [Event] = []
        for offset in stride(from: events.count - 1, through: 0, by: -1) {
            let event = events[(oldest + offset) % events.count]
            guard keep(event) else { continue }
            found.append(event)
            if found.count == limit { break }
        }
        return found.reversed()
    }

    /// Starts a live tail: the latest remembered events first, then each new one.
    func open(_ stream: HTTPStream, queue: String?, permissions: Permissions?) {
        let key = ObjectIdentifier(stream)
        stream.onClose = { [weak self] in self?.tails[key] = nil }
        let readable: (Event) -> Bool = { event in
            (queue == nil || event.queue == queue) && (permissions?.may(.read, queue: Array(event.queue.utf8)) ?? true)
        }
        stream.send(Array(": docket live events\nretry: 2000\n\n".utf8))
        for event in remembered(limit: 100, where: readable) { stream.send(Self.frame(event.json)) }
        guard !stream.isClosed else { return }
        tails[key] = Tail(stream: stream, queue: queue, permissions: permissions)
    }

    /// A comment line on every tail, so proxies and browsers keep idle ones open.
    func keepTailsAlive() {
        for tail in tails.values { tail.stream.send(Array(": ping\n\n".utf8)) }
    }

    var tailCount: Int { tails.count }

    /// One server-sent event: the JSON has no line breaks (the encoder escapes them).
    private static func frame(_ json: [UInt8]) -> [UInt8] { Array("data: ".utf8) + json + Array("\n\n".utf8) }

    /// Whether two tokens are equal, in time that does not depend on where they differ.
    static func sameToken(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8)
        let right = Array(b.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}
