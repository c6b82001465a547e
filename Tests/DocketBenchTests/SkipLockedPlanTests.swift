import Testing

@testable import docket_bench

/// The SKIP LOCKED baseline's statements, and the options that choose it.
@Suite struct SkipLockedPlanTests {
    @Test func theTableIsTheQueueQuoted() {
        let sql = SkipLockedSQL(queue: "my-jobs")
        #expect(sql.create[0].hasPrefix(#"CREATE TABLE "my-jobs" (id bigserial PRIMARY KEY"#))
        #expect(sql.create[1] == #"CREATE INDEX "my-jobs_waiting" ON "my-jobs" (id) WHERE state = 'waiting'"#)
        #expect(sql.claim == #"SELECT id, payload FROM "my-jobs" WHERE state = 'waiting' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1"#)
        #expect(sql.complete == #"UPDATE "my-jobs" SET state = 'completed' WHERE id = $1"#)
    }

    @Test func payloadsCarryTheEnqueueTime() {
        let payload = SkipLockedProducer.payload(timestamp: 0x1234, sequence: 7, size: 40)
        #expect(payload == "0000000000001234" + "0000000000000007" + "........")
        let stamp = Array(payload.utf8).withUnsafeBytes { JobPayload.timestamp(of: $0) }
        #expect(stamp == 0x1234)
    }

    static let cluster = "postgres://docket@127.0.0.1:5433/postgres"

    @Test func theOptionsMakeAPlan() throws {
        let baseline = try JobsCommand.parse(["--protocol", "pg-skip-locked", "--postgres", Self.cluster, "--workers", "16", "--batch", "8"])
            .makePlan()
        #expect(baseline.protocolKind == .pgSkipLocked)
        #expect(baseline.postgres?.conninfo == Self.cluster)
        #expect(baseline.store == nil)
        // Its workers hold one job at a time, and the report says so.
        #expect(JobsReport(plan: baseline).inFlight == 1)

        let docket = try JobsCommand.parse(["--store", "postgres", "--postgres", Self.cluster, "--docketd", "/bin/true"]).makePlan()
        #expect(docket.protocolKind == .docket)
        #expect(docket.store == .postgres)
        #expect(docket.docketd == "/bin/true")
        #expect(JobsReport(plan: docket).store == "postgres")
        #expect(DocketOnPostgresScenario.serverArguments(conninfo: "c") == ["--addr", "127.0.0.1", "--port", "0", "--store", "c"])
    }

    @Test func refusesWhatDoesNotGoTogether() {
        for arguments in [
            ["--store", "postgres"],
            ["--protocol", "pg-skip-locked"],
            ["--postgres", Self.cluster],
            ["--store", "postgres", "--postgres", Self.cluster, "--protocol", "redis"],
            ["--store", "postgres", "--postgres", Self.cluster, "--port", "4222"],
            ["--protocol", "pg-skip-locked", "--postgres", Self.cluster, "--server-pid", "1"],
            ["--protocol", "pg-skip-locked", "--postgres", "postgres://10.0.0.1/postgres"],
        ] {
            #expect(throws: (any Error).self, "\(arguments)") { _ = try JobsCommand.parse(arguments).makePlan() }
        }
    }
}
