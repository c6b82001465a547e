import DocketPostgres
import DocketTestSupport
import Foundation
import XCTest

extension TestPostgres {
    /// The cluster, or an `XCTSkip` saying why there is none.
    static func require() throws -> TestPostgres {
        switch shared {
        case .success(let server): return server
        case .failure(let unavailable): throw XCTSkip("PostgreSQL tests skipped: \(unavailable.reason)")
        }
    }
}

/// Each test gets its own database in the shared cluster (so schemas and jobs never meet) and a
/// fresh poll loop. Every test skips, with the reason, when no PostgreSQL can be started.
class PostgresTestCase: XCTestCase {
    var server: TestPostgres!
    var loop: PollLoop!
    /// This test's own database.
    var database = ""
    private var opened: [PostgresConnection] = []

    nonisolated(unsafe) private static var databases = 0

    override func setUpWithError() throws {
        try super.setUpWithError()
        server = try TestPostgres.require()
        loop = PollLoop()
        Self.databases += 1
        database = "test_\(getpid())_\(Self.databases)"
        let admin = try connect(database: "postgres")
        _ = try admin.run("CREATE DATABASE \(database)", on: loop)
        admin.close()
    }

    override func tearDown() {
        for connection in opened { connection.close() }
        opened.removeAll()
        loop = nil
        super.tearDown()
    }

    /// A ready connection to this test's database (or another).
    func connect(database name: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> PostgresConnection {
        let connection = loop.connect(server.conninfo(database: name ?? database))
        opened.append(connection)
        try loop.ready(connection, file: file, line: line)
        return connection
    }
}
