@testable import DocketServer

/// libFuzzer's entry point: one input is the text of a configuration file (`ConfigFile.parse`).
///
/// Built by `scripts/fuzz.sh config`: `Sources/DocketServer/ConfigFile.swift` is compiled
/// alone, with coverage, and this harness with AddressSanitizer only. `$NAME` variables not set
/// in the file read a fixed fake environment, so inputs replay the same way anywhere; texts
/// with `include` are skipped, as it reads files.
///
/// Properties:
/// - parsing ends (a value or a `ConfigError`) whatever the bytes; an error names the file
///   and a line and column inside the text;
/// - every value reads back as `text` (what a setting that wants a string or a size reads)
///   without trapping (a number past Int's range once did), and a number's text (below 2^53) is
///   a number again: `ConfigParser.scalar` of it gives the same value (so `port: 4222` and
///   `port: "4222"` agree);
/// - parsing is deterministic: the same text gives an equal value twice.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // `include` reads files (`/dev/stdin` would wait forever): the reader of one text is fuzzed.
    guard !text.contains("include") else { return 0 }
    let environment: (String) -> String? = { name in
        switch name {
        case "NUMBER": return "42"
        case "SIZE": return "64KiB"
        case "WORD": return "hello"
        case "HUGE": return String(repeating: "9", count: 40)
        default: return nil
        }
    }
    let first: ConfigValue
    do {
        first = try ConfigFile.parse(text, name: "fuzz.conf", environment: environment)
    } catch let error as ConfigError {
        checkErrorPosition(error.description, text: text)
        return 0
    } catch {
        violation("an error that is not a ConfigError: \(error)")
    }
    guard let second = try? ConfigFile.parse(text, name: "fuzz.conf", environment: environment), second == first else {
        violation("the same text parsed twice differs")
    }
    visit(first)
    return 0
}

/// Every value's `text`, and a number's round trip through it.
func visit(_ value: ConfigValue) {
    switch value {
    case .array(let items): items.forEach(visit)
    case .map(let entries): entries.forEach { visit($0.1) }
    case .string, .bool: _ = value.text
    case .number(let number, let unit):
        guard let text = value.text else { violation("a number without text: \(value)") }
        // Below 2^53 every whole number is exact, and its text is digits again.
        guard abs(number) < 9e15 else { return }
        let again = ConfigParser.scalar(text)
        guard case .number(let reread, let rereadUnit) = again, reread == number, rereadUnit == unit else {
            violation("number \(number) unit \(unit) reads back from \"\(text)\" as \(again)")
        }
    }
}

/// `fuzz.conf:<line>:<column>: …` with the line inside the text (or one past its last line).
func checkErrorPosition(_ description: String, text: String) {
    guard description.hasPrefix("fuzz.conf:") else { return }  // an include's own file
    let fields = description.dropFirst("fuzz.conf:".count).split(separator: ":", maxSplits: 2)
    guard fields.count == 3, let line = Int(fields[0]), let column = Int(fields[1]), line >= 1, column >= 1 else {
        violation("an error without a position: \(description)")
    }
    let lines = text.utf8.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
    guard line <= lines else { violation("an error on line \(line) of a text of \(lines) lines: \(description)") }
}

func violation(_ message: String) -> Never {
    fatalError("config fuzz property broken: \(message)")
}
