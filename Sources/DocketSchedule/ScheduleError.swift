/// Why a cron expression, an interval or a time zone was refused: one sentence for people,
/// written to follow the option it is about (the server answers
/// `-ERR 'BAD_OPTION cron: <message>'`). Messages quote with `"`, never `'`.
public struct ScheduleError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
