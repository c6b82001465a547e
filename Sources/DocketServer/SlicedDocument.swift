/// A document the monitoring port writes a slice at a time, each in its own turn of the loop
/// (see `MonitoringServer.sliceBytes`): `/metrics` with 10,000 queues is some 27 MB, and
/// written in one step it held every other client for its whole making (0.10-0.12 s release,
/// seconds in a debug build), and its reader's connection held all of it until sent.
///
/// It is a list of parts, each a head and rows; the values are read when the document is made
/// (the answer is one moment's, as if written at once), only their text is written later.
final class SlicedDocument {
    struct Part {
        /// Written before the first row (a family's `# HELP` and `# TYPE`, or lines of their own).
        let head: (MetricsText) -> Void
        let rows: Int
        let row: (MetricsText, Int) -> Void

        init(head: @escaping (MetricsText) -> Void, rows: Int = 0, row: @escaping (MetricsText, Int) -> Void = { _, _ in }) {
            self.head = head
            self.rows = rows
            self.row = row
        }
    }

    private let text: MetricsText
    private var parts: [Part] = []
    private var part = 0
    /// The next row of `parts[part]`; -1: its head.
    private var row = -1

    /// `text` holds what comes first, already written.
    init(_ text: MetricsText) {
        self.text = text
    }

    /// Rows of all parts: what making the document read (each row's values, now).
    private(set) var rows = 0

    func append(_ part: Part) {
        parts.append(part)
        rows += part.rows
    }

    /// The next whole rows, at least `bytes` of them unless the document ends first; nil once
    /// everything has been taken.
    func nextSlice(bytes: Int) -> [UInt8]? {
        while part < parts.count && text.count < bytes {
            if row < 0 {
                parts[part].head(text)
                row = 0
            } else if row < parts[part].rows {
                parts[part].row(text, row)
                row += 1
            } else {
                part += 1
                row = -1
            }
        }
        return text.count > 0 ? text.take() : nil
    }

}
