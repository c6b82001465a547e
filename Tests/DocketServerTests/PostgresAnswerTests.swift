@testable import DocketServer
import DocketPostgres
import DocketWire
import Testing

/// What job commands are answered when the database fails them: whether anything may have
/// changed is what a client needs to know before it sends the command again.
@Suite struct PostgresAnswerTests {
    /// libpq's message for a lost connection, as it gives it: several lines.
    let lost = "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request."

    /// A transaction in flight when the connection was lost may have committed: the answer must
    /// not say nothing was changed (an ENQ sent again without a key makes a second job, an ACK
    /// sent again finds the job completed), and libpq's lines make one line of text.
    @Test func aLostConnectionLeavesTheOutcomeUnknown() {
        let error = PostgresBackend.failed(PostgresError(.connection, lost))
        #expect(error.code == .unavailable)
        #expect(error.message.contains("may or may not have been done") && !error.message.contains("nothing was changed"), "\(error.message)")
        #expect(error.message.contains("server closed the connection unexpectedly This probably means the server terminated abnormally before"), "\(error.message)")
        #expect(!error.line.dropLast(2).contains("?"), "\(error.line)")
    }

    /// Never sent, refused by the server, or rolled back: nothing changed, and the answer says so.
    @Test func aCommandThatNeverCommittedChangedNothing() {
        for failure in [
            PostgresError(.closed, "the connection is closed: " + lost),
            PostgresError(.server, "canceling statement due to statement timeout", sqlState: "57014"),
            PostgresError(.rolledBack, "rolled back: deadlock detected", sqlState: "40P01"),
        ] {
            let error = PostgresBackend.failed(failure)
            #expect(error.code == .unavailable && error.message.contains("nothing was changed or promised"), "\(error.message)")
            #expect(!error.line.dropLast(2).contains("?"), "\(error.line)")
        }
        let full = PostgresBackend.failed(PostgresError(.server, "could not extend file\n\tNo space left on device", sqlState: "53100"))
        #expect(full.code == .storeFull && !full.line.dropLast(2).contains("?"), "\(full.line)")
    }
}
