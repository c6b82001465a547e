import DocketSchedule
import DocketTestSupport
import Foundation
import Testing

/// Python's zoneinfo reads the same TZif files with an independent implementation (CPython's),
/// so agreeing with it across many zones and instants checks the reader, the footer rules and
/// the gap/overlap classification at once.
enum Python {
    static let script = """
        import sys
        from datetime import datetime, timezone
        from zoneinfo import ZoneInfo
        zones = {}
        out = []
        for line in open(sys.argv[1]):
            parts = line.split()
            zone = zones.get(parts[1]) or zones.setdefault(parts[1], ZoneInfo(parts[1]))
            if parts[0] == 'O':
                moment = datetime.fromtimestamp(int(parts[2]), timezone.utc).astimezone(zone)
                out.append(str(int(moment.utcoffset().total_seconds())))
                continue
            fields = [int(part) for part in parts[2:8]]
            naive = datetime(*fields)
            results = []
            for fold in (0, 1):
                stamp = int(datetime(*fields, tzinfo=zone, fold=fold).timestamp())
                back = datetime.fromtimestamp(stamp, timezone.utc).astimezone(zone).replace(tzinfo=None)
                results.append((stamp, back == naive))
            (first, first_ok), (second, second_ok) = results
            if not first_ok and not second_ok:
                out.append('G')
            elif first_ok and second_ok and first != second:
                out.append('O %d %d' % (min(first, second), max(first, second)))
            else:
                out.append('U %d' % (first if first_ok else second))
        print('\\n'.join(out))
        """

    static let available: Bool = run(input: "") != nil

    /// Python's answers, one line per input line; nil if python3 or zoneinfo is missing.
    static func run(input: String, script: String = script) -> [String]? {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-zone-check-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: path) }
        guard (try? input.write(to: path, atomically: true, encoding: .utf8)) != nil else { return nil }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, path.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }
}

@Suite(.enabled(if: database.isInstalled, "\(zoneFilesMissing)"), .enabled(if: Python.available, "python3 with zoneinfo is not available"))
struct PythonCrossCheckTests {
    static let zones = [
        "America/New_York", "Europe/Berlin", "Europe/London", "Europe/Dublin", "America/Los_Angeles", "America/St_Johns",
        "America/Sao_Paulo", "America/Nuuk", "Asia/Gaza", "Asia/Tehran", "Asia/Kolkata", "Africa/Casablanca",
        "Antarctica/Troll", "Australia/Lord_Howe", "Australia/Sydney", "Pacific/Chatham", "Pacific/Apia", "Pacific/Kiritimati",
    ]

    @Test func offsetsAgree() {
        var lines: [String] = []
        var expected: [(zone: String, second: Int64, offset: Int)] = []
        for name in Self.zones where zoneError(name) == nil {
            let rules = zone(name)
            // Every 97 hours from 1900 to 2110 (the hour of day drifts), and a second either
            // side of each change this library finds.
            var second: Int64 = utc("1900-01-01T00:00:00Z") / 1000
            let end = utc("2110-01-01T00:00:00Z") / 1000
            var samples: [Int64] = []
            while second < end {
                samples.append(second)
                second += 97 * 3600
            }
            var instant = utc("1900-01-01T00:00:00Z")
            while let change = rules.nextOffsetChange(after: instant), change < utc("2110-01-01T00:00:00Z") {
                samples += [change / 1000 - 1, change / 1000]
                instant = change
            }
            for sample in samples {
                lines.append("O \(name) \(sample)")
                expected.append((name, sample, rules.offsetSeconds(at: sample * 1000)))
            }
        }
        guard let answers = Python.run(input: lines.joined(separator: "\n") + "\n"), answers.count == lines.count else {
            Issue.record("python3 gave no usable answer")
            return
        }
        var mismatches = 0
        for (index, answer) in answers.enumerated() where answer != String(expected[index].offset) {
            mismatches += 1
            if mismatches <= 10 {
                let sample = expected[index]
                Issue.record("\(sample.zone) at \(utcText(sample.second * 1000)): \(sample.offset), zoneinfo says \(answer)")
            }
        }
        #expect(mismatches == 0)
        #expect(lines.count > 100_000)
    }

    @Test func wallTimesAroundEveryChangeResolveAlike() {
        var lines: [String] = []
        var ours: [(zone: String, local: LocalDateTime, answer: String)] = []
        for name in Self.zones where zoneError(name) == nil {
            let rules = zone(name)
            var instant = utc("1970-01-01T00:00:00Z")
            while let change = rules.nextOffsetChange(after: instant), change < utc("2110-01-01T00:00:00Z") {
                let before = Int64(rules.offsetSeconds(at: change - 1)) * 1000
                let after = Int64(rules.offsetSeconds(at: change)) * 1000
                let low = change + min(before, after)
                for delta: Int64 in [-3_600_000, -1000, 0, 1000, 900_000, 1_799_000, 3_599_000, 3_600_000, 7_200_000] {
                    let local = LocalDateTime(wallMilliseconds: low + delta)
                    let answer: String
                    switch rules.resolve(local) {
                    case .unique(let only): answer = "U \(only / 1000)"
                    case .overlap(let earlier, let later): answer = "O \(earlier / 1000) \(later / 1000)"
                    case .gap(let transition):
                        answer = "G"
                        // The jump that skipped this wall time is a change, and the wall time
                        // lies between the clock readings either side of it.
                        #expect(rules.offsetSeconds(at: transition - 1) < rules.offsetSeconds(at: transition))
                        let skippedFrom = transition + Int64(rules.offsetSeconds(at: transition - 1)) * 1000
                        let skippedTo = transition + Int64(rules.offsetSeconds(at: transition)) * 1000
                        #expect(local.wallMilliseconds >= skippedFrom && local.wallMilliseconds < skippedTo, "\(name) \(local)")
                    }
                    lines.append("R \(name) \(local.year) \(local.month) \(local.day) \(local.hour) \(local.minute) \(local.second)")
                    ours.append((name, local, answer))
                }
                instant = change
            }
        }
        guard let answers = Python.run(input: lines.joined(separator: "\n") + "\n"), answers.count == lines.count else {
            Issue.record("python3 gave no usable answer")
            return
        }
        var mismatches = 0
        for (index, answer) in answers.enumerated() where answer != ours[index].answer {
            mismatches += 1
            if mismatches <= 10 {
                Issue.record("\(ours[index].zone) \(ours[index].local): \(ours[index].answer), zoneinfo says \(answer)")
            }
        }
        #expect(mismatches == 0)
        #expect(lines.count > 10_000)
    }
}
