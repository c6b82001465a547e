import DocketWire
import XCTest

@testable import DocketEngine

/// The dashboard's hour of activity, on counters and clocks the test controls.
final class ActivitySeriesTests: XCTestCase {
    private func buckets(_ pairs: [(bound: Int, count: Int)]) -> [Int] {
        var counts = [Int](repeating: 0, count: LatencyHistogram.bounds.count + 1)
        for (bound, count) in pairs {
            let index = LatencyHistogram.bounds.firstIndex(of: bound) ?? LatencyHistogram.bounds.count
            counts[index] += count
        }
        return counts
    }

    func testEachPointIsTheIntervalsDifference() {
        var series = ActivitySeries(intervalMilliseconds: 10_000, capacity: 4)
        series.record([.init(queue: "q", started: 100, completed: 90, failed: 5)], at: 10_000)
        series.record([.init(queue: "q", started: 130, completed: 115, failed: 6)], at: 20_000)
        let points = series.series(of: "q")
        // A queue seen for the first time starts from zero: its past is not this interval's.
        XCTAssertEqual(points.map(\.started), [0, 30])
        XCTAssertEqual(points.map(\.completed), [0, 25])
        XCTAssertEqual(points.map(\.failed), [0, 1])
        XCTAssertEqual(points.map(\.time), [10_000, 20_000])
    }

    func testPercentilesComeFromTheIntervalsBuckets() {
        var series = ActivitySeries()
        let before = buckets([(5, 1000)])  // an earlier, fast hour must not count
        series.record([.init(queue: "q", started: 0, completed: 0, failed: 0, waitBuckets: before, runBuckets: before)], at: 0)
        let after = buckets([(5, 1000), (10, 90), (250, 10)])
        series.record([.init(queue: "q", started: 100, completed: 100, failed: 0, waitBuckets: after, runBuckets: nil)], at: 10_000)
        let point = series.series(of: "q")[1]
        XCTAssertEqual(point.waitP50, 10)
        XCTAssertEqual(point.waitP95, 250)
        XCTAssertNil(point.runP50, "no histogram, no percentile")
        XCTAssertNil(series.series(of: "q")[0].waitP50, "no samples in the first interval")
        XCTAssertEqual(ActivitySeries.percentile(buckets([(300_000, 0), (999, 3)]), 0.5), 300_000, "the unbounded bucket reads as at least its lower bound")
    }

    func testItKeepsTheLatestPointsAndForgetsQuietGoneQueues() {
        var series = ActivitySeries(intervalMilliseconds: 1000, capacity: 3)
        for second in 1...5 { series.record([.init(queue: "q", started: second * 10, completed: 0, failed: 0)], at: Int64(second * 1000)) }
        XCTAssertEqual(series.series(of: "q").map(\.time), [3000, 4000, 5000])
        for second in 6...9 { series.record([], at: Int64(second * 1000)) }
        XCTAssertEqual(series.queues, [], "a queue gone for a whole window leaves nothing")
    }

    func testTheDocumentIsColumnar() throws {
        var series = ActivitySeries(intervalMilliseconds: 10_000, capacity: 10)
        series.record([.init(queue: "a\"b", started: 1, completed: 1, failed: 0), .init(queue: "idle", started: 0, completed: 0, failed: 0)], at: 5)
        series.record([.init(queue: "a\"b", started: 2, completed: 1, failed: 0), .init(queue: "idle", started: 0, completed: 0, failed: 0)], at: 6)
        let json = series.json(now: 7)
        let value = try XCTUnwrap(json.utf8.withContiguousStorageIfAvailable { JSONValue.parse(UnsafeRawBufferPointer($0)) } ?? nil)
        XCTAssertEqual(value["interval_ms"]?.numberValue, 10_000)
        XCTAssertEqual(value["now"]?.numberValue, 7)
        XCTAssertEqual(value["t"], .array([.number(5), .number(6)]))
        XCTAssertEqual(value["queues"]?["a\"b"]?["t"], .array([.number(5), .number(6)]))
        XCTAssertEqual(value["queues"]?["a\"b"]?["started"], .array([.number(0), .number(1)]))
        XCTAssertEqual(value["queues"]?["a\"b"]?["wait_p95_ms"], .array([.null, .null]))
        XCTAssertNil(value["queues"]?["idle"], "a queue quiet at every time in t is not listed")
    }

    func testQuietQueuesKeepNoPoints() {
        // 10,000 idle queues sampled for an hour once kept 3.6 M quiet points.
        var series = ActivitySeries(intervalMilliseconds: 1000, capacity: 360)
        let idle = (0..<10_000).map { ActivitySeries.Reading(queue: "q\($0)", started: 5, completed: 5, failed: 0) }
        for second in 1...30 { series.record(idle, at: Int64(second * 1000)) }
        XCTAssertEqual(series.queues, [])
        XCTAssertEqual(series.times.count, 30)
        // `t` and `all` (one point a sampling time, whatever the number of queues), and no queue.
        XCTAssertLessThan(series.json(now: 30_000).utf8.count, 2000)
    }

    func testAQuietQueueThatStartsToWorkCoversTheWindow() {
        var series = ActivitySeries(intervalMilliseconds: 1000, capacity: 4)
        for second in 1...6 { series.record([.init(queue: "q", started: 0, completed: 0, failed: 0)], at: Int64(second * 1000)) }
        XCTAssertEqual(series.series(of: "q"), [])
        series.record([.init(queue: "q", started: 3, completed: 1, failed: 0)], at: 7000)
        XCTAssertEqual(series.series(of: "q").map(\.time), [4000, 5000, 6000, 7000])
        XCTAssertEqual(series.series(of: "q").map(\.started), [0, 0, 0, 3])
        // Quiet again: it keeps its points while its activity is in the window, then none.
        for second in 8...10 { series.record([.init(queue: "q", started: 3, completed: 1, failed: 0)], at: Int64(second * 1000)) }
        XCTAssertEqual(series.series(of: "q").map(\.started), [3, 0, 0, 0])
        series.record([.init(queue: "q", started: 3, completed: 1, failed: 0)], at: 11_000)
        XCTAssertEqual(series.queues, [])
    }

    private func document(_ text: String) throws -> JSONValue {
        try XCTUnwrap(text.utf8.withContiguousStorageIfAvailable { JSONValue.parse(UnsafeRawBufferPointer($0)) } ?? nil)
    }

    /// Three queues working at 1000, 2000, 3000 (the first reading is each one's start).
    private func threeQueues() -> ActivitySeries {
        var series = ActivitySeries(intervalMilliseconds: 1000, capacity: 10)
        for second in 1...3 {
            series.record([
                .init(queue: "a", started: second * 1, completed: 0, failed: 0),
                .init(queue: "b", started: second * 10, completed: 0, failed: second),
                .init(queue: "c", started: second * 100, completed: 0, failed: 0),
            ], at: Int64(second * 1000))
        }
        return series
    }

    func testSinceSendsOnlyThePointsSampledAfterIt() throws {
        let value = try document(threeQueues().json(now: 3500, since: 2000))
        XCTAssertEqual(value["t"], .array([.number(3000)]))
        XCTAssertEqual(value["from"]?.numberValue, 1000, "the oldest time still in the window, to drop older points by")
        XCTAssertEqual(value["queues"]?["b"]?["t"], .array([.number(3000)]))
        XCTAssertEqual(value["queues"]?["b"]?["started"], .array([.number(10)]))
        XCTAssertEqual(value["queues"]?["b"]?["failed"], .array([.number(1)]))
        XCTAssertNil(value["listed"], "no selection, no list")
    }

    func testOnlyNarrowsTheQueuesAndListsThem() throws {
        let value = try document(threeQueues().json(now: 3500, only: ["c", "quiet"]))
        XCTAssertEqual(value["listed"], .array([.string("c"), .string("quiet")]))
        XCTAssertNil(value["queues"]?["a"])
        XCTAssertNil(value["queues"]?["quiet"], "asked for, but quiet all through")
        XCTAssertEqual(value["queues"]?["c"]?["started"], .array([.number(0), .number(100), .number(100)]))
    }

    func testAllAddsUpEveryIncludedQueue() throws {
        let series = threeQueues()
        let everything = try document(series.json(now: 3500, only: ["a"]))
        XCTAssertEqual(everything["all"]?["t"], .array([.number(1000), .number(2000), .number(3000)]))
        XCTAssertEqual(everything["all"]?["started"], .array([.number(0), .number(111), .number(111)]), "every queue, not only those listed")
        XCTAssertEqual(everything["all"]?["failed"], .array([.number(0), .number(1), .number(1)]))
        // A reader of some queues only: the sum of those, worked out from their points.
        let some = try document(series.json(now: 3500, since: 1000, everything: false) { $0 != "c" })
        XCTAssertEqual(some["all"]?["started"], .array([.number(11), .number(11)]))
        XCTAssertNil(some["queues"]?["c"])
    }
}
