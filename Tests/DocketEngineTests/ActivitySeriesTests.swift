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
        XCTAssertLessThan(series.json(now: 30_000).utf8.count, 1000)
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
}
