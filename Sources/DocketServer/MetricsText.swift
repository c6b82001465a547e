import DocketEngine
import DocketWire

/// Lines of Prometheus's text format appended as bytes (see `Server.metricsExposition`).
final class MetricsText {
    private let bytes = ByteBuffer(capacity: 1 << 16)

    /// Bytes appended and not yet taken.
    var count: Int { bytes.readableCount }

    /// The bytes appended since the last take.
    func take() -> [UInt8] {
        let taken = Array(bytes.readableBytes)
        bytes.clear()
        return taken
    }

    /// `queue="<name>"`; queue names are letters, digits, `_` and `-`, nothing to escape.
    static func queueLabel(_ name: String) -> [UInt8] { Array("queue=\"\(name)\"".utf8) }

    /// `,le="<seconds>"} ` of each bucket but the last, printed once rather than per queue.
    private static let bucketBounds: [[UInt8]] = LatencyHistogram.bounds.map { Array(",le=\"\(Double($0) / 1000)\"} ".utf8) }

    func family(_ name: String, _ type: String, _ help: String) {
        bytes.append("# HELP ")
        bytes.append(string: name)
        bytes.append(" ")
        bytes.append(string: help)
        bytes.append("\n# TYPE ")
        bytes.append(string: name)
        bytes.append(" ")
        bytes.append(string: type)
        bytes.append("\n")
    }

    func sample(_ name: String, _ value: Int) {
        bytes.append(string: name)
        bytes.append(" ")
        integer(value)
    }

    func sample(_ name: String, _ value: Double) {
        bytes.append(string: name)
        bytes.append(" ")
        bytes.append(string: "\(value)\n")
    }

    func sample(_ name: String, _ queueLabel: [UInt8], state: String? = nil, _ value: Int) {
        bytes.append(string: name)
        bytes.append("{")
        bytes.append(queueLabel)
        if let state {
            bytes.append(",state=\"")
            bytes.append(string: state)
            bytes.append("\"")
        }
        bytes.append("} ")
        integer(value)
    }

    /// One queue's lines of a histogram family; `bucket` is `<name>_bucket{`.
    func histogram(_ name: String, bucket: [UInt8], _ histogram: LatencyHistogram, _ label: [UInt8]) {
        var cumulative = 0
        for (index, bound) in Self.bucketBounds.enumerated() {
            cumulative += histogram.counts[index]
            bytes.append(bucket)
            bytes.append(label)
            bytes.append(bound)
            integer(cumulative)
        }
        bytes.append(bucket)
        bytes.append(label)
        bytes.append(",le=\"+Inf\"} ")
        integer(histogram.count)
        bytes.append(string: name)
        bytes.append("_sum{")
        bytes.append(label)
        bytes.append(string: "} \(Double(histogram.sum) / 1000)\n")
        bytes.append(string: name)
        bytes.append("_count{")
        bytes.append(label)
        bytes.append("} ")
        integer(histogram.count)
    }

    /// `value` and the line's end.
    private func integer(_ value: Int) {
        if value < 0 { bytes.append("-") }
        bytes.appendDecimal(value.magnitude > UInt(Int.max) ? Int.max : Int(value.magnitude))
        bytes.append("\n")
    }
}
