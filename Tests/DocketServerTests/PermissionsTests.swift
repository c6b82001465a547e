@testable import DocketServer
import DocketTestSupport
import DocketWire
import Foundation
import Testing

/// Subject filters compared as nats-server compares them for permissions.
@Suite struct SubjectComparisonTests {
    @Test(arguments: [
        ("a.b", "a.b", true), ("a.*", "a.b", true), ("a.*", "a.b.c", false), ("a.>", "a.b.c", true),
        ("a.>", "a", false), (">", "a", true), ("*", "a.b", false), ("a.b", "a.c", false),
        ("$JOB.>", "$JOB.q.completed", true),
        // As nats-server's permission lists: a subject with an empty token matches nothing.
        (">", "a..b", false), ("a.>", "a..b", false), ("*", "", false), (">", ".a", false),
    ])
    func matches(_ filter: String, _ subject: String, _ expected: Bool) {
        #expect(Subject.matches(Array(filter.utf8), Array(subject.utf8)) == expected, "\(filter) ~ \(subject)")
    }

    @Test(arguments: [
        (">", "a.*", true), ("a.>", "a.*", true), ("a.*", "a.>", false), ("a.*", "a.b", true), ("a.b", "a.*", false),
        ("*.b", "a.b", true), ("*", ">", false), (">", ">", true), ("a.>", "a", false), ("a.*.c", "a.b.c", true),
        (">", "a..b", false), ("a.>", "a.", false),
    ])
    func covers(_ outer: String, _ inner: String, _ expected: Bool) {
        #expect(Subject.covers(Array(outer.utf8), Array(inner.utf8)) == expected, "\(outer) ⊇ \(inner)")
    }

    @Test(arguments: [
        ("a.*", "*.b", true), ("a.>", "b.>", false), (">", "a.b.c", true), ("a.*", "a.b.c", false),
        ("a.b", "a.b", true), ("*.*", "a", false), ("a.>", "a", false), ("$JOB.>", ">", true),
    ])
    func overlaps(_ a: String, _ b: String, _ expected: Bool) {
        #expect(Subject.overlaps(Array(a.utf8), Array(b.utf8)) == expected, "\(a) ∩ \(b)")
        #expect(Subject.overlaps(Array(b.utf8), Array(a.utf8)) == expected, "\(b) ∩ \(a)")
    }
}

/// The permissions object on its own: what it grants, refuses and filters.
@Suite struct PermissionRuleTests {
    func rule(_ allow: [String]?, deny: [String] = []) -> SubjectRule {
        SubjectRule(allow: allow?.map { Array($0.utf8) }, deny: deny.map { Array($0.utf8) })
    }

    @Test func denyWinsOverAllow() {
        let publish = rule(["orders.>"], deny: ["orders.secret"])
        #expect(publish.permits(Array("orders.new".utf8)))
        #expect(!publish.permits(Array("orders.secret".utf8)))
        #expect(!publish.permits(Array("billing.new".utf8)))
        #expect(SubjectRule.everything.permits(Array("x".utf8)) && !SubjectRule.nothing.permits(Array("x".utf8)))
    }

    @Test func subscriptionsAreCoveredRefusedOrFiltered() {
        let reader = Permissions(subscribe: rule([">"], deny: ["secret.>"]), jobs: [.read: rule(["emails"])])
        func admit(_ filter: String) -> Permissions.Admission { reader.admit(subscription: Array(filter.utf8)) }
        #expect(admit("public.news") == .granted)
        #expect(admit("secret.plans") == .refused)
        #expect(admit(">") == .filtered)
        #expect(admit("$JOB.emails.>") == .granted)
        #expect(admit("$JOB.billing.completed") == .refused)
        #expect(admit("$JOB.*.completed") == .filtered)
        func receives(_ subject: String) -> Bool { Array(subject.utf8).withUnsafeBytes { reader.mayReceive($0) } }
        #expect(receives("public.news") && !receives("secret.plans"))
        #expect(receives("$JOB.emails.completed") && !receives("$JOB.billing.completed"))

        let narrow = Permissions(subscribe: rule(["orders.*"]))
        #expect(narrow.admit(subscription: Array("orders.>".utf8)) == .refused)
        #expect(narrow.admit(subscription: Array("orders.new".utf8)) == .granted)
        // No read right at all: lifecycle subjects are out of reach.
        #expect(narrow.admit(subscription: Array("$JOB.>".utf8)) == .refused)
    }

    @Test func queueEntriesDecideForQueueSubscriptions() {
        func grant(_ subject: String, _ queue: String) -> QueueGrant { QueueGrant(subject: Array(subject.utf8), queue: Array(queue.utf8)) }
        // nats-server's allow ["jobs g1", "tasks.* g.*", "both", "both g1", "open"], deny ["open g9"].
        let worker = Permissions(
            subscribe: rule(["both", "open"]), queueAllow: [grant("jobs", "g1"), grant("tasks.*", "g.*"), grant("both", "g1")],
            queueDeny: [grant("open", "g9")])
        func admit(_ filter: String, _ queue: String? = nil) -> Permissions.Admission {
            worker.admit(subscription: Array(filter.utf8), queue: queue.map { Array($0.utf8) })
        }
        #expect(admit("jobs", "g1") == .granted)
        #expect(admit("jobs", "g2") == .refused)
        #expect(admit("jobs") == .refused)
        #expect(admit("tasks.x", "g.a") == .granted && admit("tasks.x", "g.*") == .granted)
        #expect(admit("tasks.x", "g") == .refused)
        #expect(admit("both") == .granted && admit("both", "g1") == .granted)
        #expect(admit("both", "g2") == .refused)
        #expect(admit("open", "g1") == .granted && admit("open") == .granted)
        #expect(admit("open", "g9") == .refused)
    }

    @Test func jobRightsArePerQueuePattern() {
        let worker = Permissions(jobs: [.work: rule(["emails", "sms"]), .read: rule([">"], deny: ["payroll"])])
        #expect(worker.may(.work, queue: Array("sms".utf8)) && !worker.may(.work, queue: Array("payroll".utf8)))
        #expect(!worker.may(.enqueue, queue: Array("emails".utf8)))
        #expect(worker.may(.read, queue: Array("emails".utf8)) && !worker.may(.read, queue: Array("payroll".utf8)))
        #expect(!worker.mayReadEveryQueue)
        #expect(Permissions(jobs: [.read: rule(["*"])]).mayReadEveryQueue)
        #expect(Array("$JOB.q.completed".utf8).withUnsafeBytes { !Permissions().mayPublish($0) })
    }
}

/// Users, subject permissions and job rights over TCP, against the real server.
@Suite struct PermissionsServerTests {
    static let config = """
        authorization {
          users = [
            { user: producer, password: p1 }
            { user: worker, password: w1 }
            { user: auditor, password: r1 }
            { user: admin, password: a1 }
            { user: plain, password: n1 }
          ]
        }
        docket {
          permissions {
            producer: { enqueue: emails }
            worker: { work: emails, read: emails }
            auditor: { read: ">" }
            admin: { enqueue: ">", work: ">", read: ">", admin: ">" }
          }
        }
        """
    static let rights: [String: [JobRight: [String]]] = [
        "producer": [.enqueue: ["emails"]],
        "worker": [.work: ["emails"], .read: ["emails"]],
        "auditor": [.read: ["emails", "billing"]],
        "admin": [.enqueue: ["emails", "billing"], .work: ["emails", "billing"], .read: ["emails", "billing"], .admin: ["emails", "billing"]],
        // No permissions block: every right, as for a user of a configuration without any.
        "plain": [.enqueue: ["emails", "billing"], .work: ["emails", "billing"], .read: ["emails", "billing"], .admin: ["emails", "billing"]],
    ]
    static let passwords = ["producer": "p1", "worker": "w1", "auditor": "r1", "admin": "a1", "plain": "n1"]

    func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-\(UUID().uuidString).conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func connect(_ server: DocketdProcess, _ user: String) throws -> LineClient {
        let client = try server.client()
        _ = try client.handshake(#"{"verbose":false,"headers":true,"user":"\#(user)","pass":"\#(Self.passwords[user]!)"}"#)
        return client
    }

    /// Job 1 on emails, job 2 on billing, route 1 into emails.
    func seeded() throws -> DocketdProcess {
        let server = try DocketdProcess(["-c", try file(Self.config)])
        let admin = try connect(server, "admin")
        try admin.send("ENQ emails 1\r\nx\r\nENQ billing 1\r\ny\r\nROUTE orders.> emails\r\n")
        #expect(try admin.readLine() == "+OK 1")
        #expect(try admin.readLine() == "+OK 2")
        #expect(try admin.readLine() == "+OK 1")
        return server
    }

    /// Every job verb, as each role: FORBIDDEN exactly when the role lacks the right on the
    /// queue concerned, and the connection keeps serving after it. A verb naming a job in a
    /// queue the role may not read is told the job does not exist, word for word as for an id
    /// never given, so ids say nothing of hidden queues.
    @Test func wireVerbMatrix() throws {
        let server = try seeded()
        let verbs: [(command: String, right: JobRight?, queue: String)] = [
            ("ENQ emails 1\r\nz", .enqueue, "emails"), ("ENQ billing 1\r\nz", .enqueue, "billing"),
            ("RESERVE billing timeout=0", .work, "billing"), ("ACK 1", .work, "emails"), ("FAIL 1", .work, "emails"),
            ("PROGRESS 1 50", .work, "emails"), ("TOUCH 2", .work, "billing"), ("INSPECT 1", .read, "emails"),
            ("INSPECT 2", .read, "billing"), ("WAIT 2 timeout=1ms", .read, "billing"), ("DEAD emails", .read, "emails"),
            ("QUEUE billing", .read, "billing"), ("QUEUE emails rate=100/1s", .admin, "emails"), ("PAUSE billing", .admin, "billing"),
            ("RESUME billing", .admin, "billing"), ("RETRY 1", .admin, "emails"), ("RETRY queue=billing", .admin, "billing"),
            ("UNROUTE 99", nil, ""), ("ROUTES", nil, ""), ("QUEUES", nil, ""),
        ]
        for user in ["producer", "worker", "auditor", "plain", "admin"] {
            let client = try connect(server, user)
            for verb in verbs {
                try client.send(verb.command + "\r\n")
                let reply = try client.readLine()
                if reply.hasPrefix("JSON ") || reply.hasPrefix("JOB ") { _ = try client.readBytes(Int(reply.split(separator: " ").last!)! + 2) }
                let allowed = verb.right.map { Self.rights[user]?[$0]?.contains(verb.queue) ?? false } ?? true
                let readable = Self.rights[user]?[.read]?.contains(verb.queue) ?? false
                let words = verb.command.split(separator: " ")
                let namedJob = ["ACK", "FAIL", "PROGRESS", "TOUCH", "INSPECT", "WAIT", "RETRY"].contains(words[0]) ? UInt64(words[1]) : nil
                if !allowed, let namedJob, !readable {
                    #expect(reply == "-ERR 'NOT_FOUND job \(namedJob) does not exist'", "\(user): \(verb.command) -> \(reply)")
                    continue
                }
                let forbidden = reply.hasPrefix("-ERR 'FORBIDDEN ")
                #expect(forbidden == !allowed, "\(user): \(verb.command) -> \(reply)")
                if forbidden {
                    #expect(reply == "-ERR 'FORBIDDEN user \(user) may not \(verb.right!.rawValue) on queue \(verb.queue)'")
                }
            }
            try client.line("STATS")
            let stats = try client.readLine()
            #expect(stats.hasPrefix("-ERR 'FORBIDDEN") == !["auditor", "admin", "plain"].contains(user), "\(user): STATS -> \(stats)")
            if stats.hasPrefix("JSON ") { _ = try client.readBytes(Int(stats.split(separator: " ").last!)! + 2) }
            let rest = try client.sync()
            #expect(rest == [], "\(user): the connection still serves")
        }
        // Deleting last, as the one who may.
        for (user, answer) in [("worker", "-ERR 'NOT_FOUND job 2 does not exist'"), ("auditor", "-ERR 'FORBIDDEN user auditor may not admin on queue billing'"), ("admin", "+OK")] {
            let client = try connect(server, user)
            try client.line("DEL 2")
            #expect(try client.readLine() == answer, "\(user) DEL")
        }
    }

    /// QUEUES and ROUTES show only what the user may read.
    @Test func listsShowOnlyReadableQueues() throws {
        let server = try seeded()
        func names(_ user: String, _ command: String, _ key: String) throws -> [String] {
            let client = try connect(server, user)
            let list = try #require(try client.document(command) as? [[String: Any]])
            return list.compactMap { $0[key] as? String }.sorted()
        }
        #expect(try names("worker", "QUEUES", "queue") == ["emails"])
        #expect(try names("producer", "QUEUES", "queue") == [])
        #expect(try names("auditor", "QUEUES", "queue") == ["billing", "emails"])
        // A page passes over the queues the user may not read and still fills (billing
        // sorts first).
        #expect(try names("worker", "QUEUES limit=1", "queue") == ["emails"])
        #expect(try names("auditor", "QUEUES after=billing limit=1", "queue") == ["emails"])
        #expect(try names("worker", "ROUTES", "owner") == ["admin"])
        #expect(try names("producer", "ROUTES", "owner") == [])
    }

    /// Names and ids in queues a user may not read say nothing: another queue's schedule can
    /// be neither replaced nor found, a hidden job is NOT_FOUND as a job never made, and a
    /// readable job's parents and children in hidden queues are left out of INSPECT and PARENTS.
    @Test func hiddenQueuesStayHidden() throws {
        let config = """
            authorization { users = [ { user: boss, password: b1 }, { user: alice, password: a1 } ] }
            docket { permissions { alice: { enqueue: pub, work: pub, read: pub, admin: pub } } }
            """
        let server = try DocketdProcess(["-c", try file(config)])
        let boss = try server.client()
        _ = try boss.handshake(#"{"verbose":false,"user":"boss","pass":"b1"}"#)
        let alice = try server.client()
        _ = try alice.handshake(#"{"verbose":false,"user":"alice","pass":"a1"}"#)
        try boss.send("SCHEDULE nightly secret every=1h 1\r\nx\r\n")
        #expect(try boss.readLine() == "+OK")

        try alice.send("SCHEDULE nightly pub every=1s 3\r\nhi!\r\n")
        #expect(try alice.readLine() == "-ERR 'FORBIDDEN user alice may not replace schedule nightly, which fills another queue'")
        try alice.line("UNSCHEDULE nightly")
        #expect(try alice.readLine() == "-ERR 'NOT_FOUND schedule nightly does not exist'")
        try alice.line("PAUSE schedule=nightly")
        #expect(try alice.readLine() == "-ERR 'NOT_FOUND schedule nightly does not exist'")
        let schedules = try #require(try boss.document("SCHEDULES") as? [[String: Any]])
        #expect(schedules.map { $0["name"] as? String } == ["nightly"] && schedules.map { $0["queue"] as? String } == ["secret"])

        for (index, enq) in ["ENQ secret 1\r\nx", "ENQ pub after=1 1\r\ny", "ENQ secret after=2 1\r\nz"].enumerated() {
            try boss.send(enq + "\r\n")
            #expect(try boss.readLine() == "+OK \(index + 1)")
        }
        for id in [1, 3, 99] {
            try alice.line("INSPECT \(id)")
            #expect(try alice.readLine() == "-ERR 'NOT_FOUND job \(id) does not exist'")
            try alice.line("DEL \(id)")
            #expect(try alice.readLine() == "-ERR 'NOT_FOUND job \(id) does not exist'")
        }
        try alice.send("ENQ pub after=1 1\r\nw\r\n")
        #expect(try alice.readLine() == "-ERR 'NOT_FOUND parent job 1 not found'")
        try alice.send("ENQ pub after=99 1\r\nw\r\n")
        #expect(try alice.readLine() == "-ERR 'NOT_FOUND parent job 99 not found'")
        let job = try #require(try alice.document("INSPECT 2") as? [String: Any])
        #expect(job["parents"] == nil && job["children"] == nil, "\(job)")
        #expect((try alice.document("PARENTS 2") as? [Any])?.isEmpty == true)
        let seen = try #require(try boss.document("INSPECT 2") as? [String: Any])
        #expect(seen["parents"] as? [Int] == [1] && seen["children"] as? [Int] == [3])
    }

    /// With users, an API answer reaches the requester alone: a user subscribed to `_INBOX.>`
    /// or `>` does not read the payloads and results of others' requests. A reply subject the
    /// server could not answer on as itself (a wildcard, an empty token, `$JOB.`) is refused
    /// before anything is done, and API verbs are exact upper-case tokens, as subject
    /// permissions match them.
    @Test func apiAnswersReachOnlyTheRequester() throws {
        let config = """
            authorization { users = [
              { user: boss, password: b1 }
              { user: webapp, password: w1, permissions: { publish: "$DOCKET.API.ENQ.emails", subscribe: "_INBOX.>" } }
              { user: mailer, password: m1 }
              { user: ops, password: o1, permissions: { publish: { deny: ["$DOCKET.API.DEL.>"] } } }
            ] }
            docket { permissions {
              webapp: { enqueue: emails }
              mailer: { work: emails, read: emails }
              ops: { enqueue: ">", work: ">", read: ">", admin: ">" }
            } }
            """
        let server = try DocketdProcess(["-c", try file(config)])
        func login(_ user: String, _ password: String) throws -> LineClient {
            let client = try server.client()
            _ = try client.handshake(#"{"verbose":false,"headers":true,"user":"\#(user)","pass":"\#(password)"}"#)
            return client
        }
        let boss = try login("boss", "b1")
        let webapp = try login("webapp", "w1")
        let mailer = try login("mailer", "m1")
        try webapp.send("SUB _INBOX.> 1\r\n")
        try mailer.send("SUB > 1\r\n")
        #expect(try webapp.sync() == [] && mailer.sync() == [])

        try boss.send("SUB _INBOX.boss.* 7\r\nPUB $DOCKET.API.ENQ.secret _INBOX.boss.1 10\r\nTOP-SECRET\r\n")
        #expect(try boss.readMessage().1 == Array(#"{"id":1,"duplicate":false}"#.utf8))
        try boss.send("PUB $DOCKET.API.RESERVE.secret _INBOX.boss.2 0\r\n\r\n")
        let (reserved, payload) = try boss.readMessage()
        #expect(reserved.hasPrefix("HMSG _INBOX.boss.2 7 ") && payload.suffix(10) == Array("TOP-SECRET".utf8))
        try boss.send("PUB $DOCKET.API.ACK.1 _INBOX.boss.3 13\r\nSECRET-RESULT\r\n")
        #expect(try boss.readMessage().1 == Array(#"{"ok":true}"#.utf8))
        try boss.send("PUB $DOCKET.API.INSPECT.1 _INBOX.boss.4 0\r\n\r\n")
        #expect(String(decoding: try boss.readMessage().1, as: UTF8.self).contains("SECRET-RESULT"))
        // Nothing of it reached the other subscribers: their next line is their own PONG.
        #expect(try webapp.sync() == [] && mailer.sync() == [])

        // The webapp's own answers still reach it on the subject it chose.
        try webapp.send("PUB $DOCKET.API.ENQ.emails _INBOX.w.1 2\r\nhi\r\n")
        #expect(try webapp.readMessage() == ("MSG _INBOX.w.1 1 26", Array(#"{"id":2,"duplicate":false}"#.utf8)))

        // Reply subjects the server may not answer on: refused, and nothing enqueued.
        for reply in ["$JOB.emails.completed", "foo.*", ">", "foo..bar"] {
            try webapp.send("PUB $DOCKET.API.ENQ.emails \(reply) 2\r\nhi\r\n")
            #expect(try webapp.readLine() == "-ERR 'Permissions Violation for Publish to \"\(reply)\"'")
        }
        #expect(try webapp.sync() == [])
        // The mailer, which may read emails, saw job 2's lifecycle events and nothing else.
        let seen = try mailer.sync()
        #expect(seen.allSatisfy { $0.hasPrefix("MSG $JOB.emails.") || $0.contains("\"id\":2,\"queue\":\"emails\"") }, "\(seen)")
        let emails = try boss.object("QUEUE emails")
        #expect((emails["jobs"] as? [String: Any])?["waiting"] as? Int == 1)

        // A deny on the upper-case verb is not passed by another spelling.
        let ops = try login("ops", "o1")
        try ops.send("SUB _INBOX.ops 1\r\nPUB $DOCKET.API.del.2 _INBOX.ops 0\r\n\r\nPUB $DOCKET.API.Del.2 _INBOX.ops 0\r\n\r\n")
        for _ in 0..<2 {
            #expect(String(decoding: try ops.readMessage().1, as: UTF8.self).contains("unknown API subject"))
        }
        try ops.send("PUB $DOCKET.API.DEL.2 _INBOX.ops 0\r\n\r\n")
        #expect(try ops.readLine() == "-ERR 'Permissions Violation for Publish to \"$DOCKET.API.DEL.2\"'")
        #expect(try boss.object("INSPECT 2")["state"] as? String == "waiting")
    }

    /// `$DOCKET.API` goes through the same check: a producer may ENQ.emails and nothing else.
    @Test func apiRequestsAreCheckedTheSameWay() throws {
        let server = try seeded()
        let cases: [(String, String, Bool?)] = [
            ("producer", "$DOCKET.API.ENQ.emails", false), ("producer", "$DOCKET.API.ENQ.billing", true),
            ("producer", "$DOCKET.API.INSPECT.1", nil), ("producer", "$DOCKET.API.DEL.2", nil), ("producer", "$DOCKET.API.STATS", true),
            ("worker", "$DOCKET.API.QUEUE.emails", false), ("worker", "$DOCKET.API.RESERVE.billing", true),
            ("auditor", "$DOCKET.API.STATS", false), ("auditor", "$DOCKET.API.RETRY.1", true),
            ("producer", "$DOCKET.API.PAUSE.emails", true), ("worker", "$DOCKET.API.DEAD.emails", false),
            ("worker", "$DOCKET.API.UNROUTE.1", true), ("admin", "$DOCKET.API.RESUME.emails", false),
        ]
        for (user, subject, forbidden) in cases {
            let client = try connect(server, user)
            try client.send("SUB _INBOX.r 1\r\nPUB \(subject) _INBOX.r 1\r\nx\r\n")
            let (_, body) = try client.readMessage()
            let text = String(decoding: body, as: UTF8.self)
            // nil: a job in a queue the user may not read, which does not exist for them.
            guard let forbidden else {
                #expect(text.contains(#""code":"NOT_FOUND""#), "\(user) \(subject): \(text)")
                continue
            }
            #expect(text.contains(#""code":"FORBIDDEN""#) == forbidden, "\(user) \(subject): \(text)")
        }
    }

    /// A route acts with its maker's rights: a user without them cannot make one, and a route
    /// whose maker lost the right stops firing (after a restart with a new configuration).
    @Test func routesRunWithTheirOwnersRights() throws {
        let server = try seeded()
        let producer = try connect(server, "producer")
        try producer.line("ROUTE orders.> emails")
        #expect(try producer.readLine() == "-ERR 'FORBIDDEN user producer may not admin on queue emails'")
        let publisher = try connect(server, "plain")
        try publisher.send("PUB orders.new 5\r\nfirst\r\n")
        let admin = try connect(server, "admin")
        try admin.line("RESERVE emails timeout=1s")
        #expect(plainJobLine(try admin.readMessage().0).hasPrefix("JOB 1 emails"))
        try admin.line("RESERVE emails timeout=1s")
        let (routed, payload) = try admin.readMessage()
        #expect(plainJobLine(routed) == "JOB 3 emails 1 5" && payload == Array("first".utf8))

        let demoted = Self.config.replacingOccurrences(
            of: #"admin: { enqueue: ">", work: ">", read: ">", admin: ">" }"#, with: #"admin: { work: ">", read: ">", admin: ">" }"#)
        #expect(server.stop() == 0)
        let restarted = try server.restart(["-c", try file(demoted)])
        let again = try connect(restarted, "plain")
        try again.send("PUB orders.new 6\r\nsecond\r\n")
        _ = try again.sync()
        let reader = try connect(restarted, "auditor")
        try reader.line("INSPECT 4")
        #expect(try reader.readLine() == "-ERR 'NOT_FOUND job 4 does not exist'")
        #expect(restarted.log.waitForLine(containing: "Route 1 (orders.> to emails) does not fire: its owner admin may not enqueue", timeout: 5) != nil)
    }

    /// LIST and DEAD leave out parents and children in queues the reader may not read, as
    /// INSPECT does: a blocked job's hidden parent is not named by any of them.
    @Test func listsLeaveOutHiddenParents() throws {
        try Self.expectListsLeaveOutHiddenParents(try seeded())
    }

    /// Job 1 on emails and job 2 on billing must exist; used by the PostgreSQL suite too.
    static func expectListsLeaveOutHiddenParents(_ server: DocketdProcess) throws {
        let admin = try PermissionsServerTests().connect(server, "admin")
        // Job 3 on emails waits for job 2 on billing; job 4 on billing waits for job 1.
        try admin.send("ENQ emails after=2 1\r\nc\r\n")
        #expect(try admin.readLine() == "+OK 3")
        try admin.send("ENQ billing after=1 1\r\nd\r\n")
        #expect(try admin.readLine() == "+OK 4")
        let worker = try PermissionsServerTests().connect(server, "worker")  // reads emails only
        for command in ["LIST emails state=blocked", "LIST emails", "INSPECT 3", "INSPECT 1"] {
            let text = String(decoding: try JSONSerialization.data(withJSONObject: try worker.document(command)), as: UTF8.self)
            #expect(!text.contains("parents") && !text.contains("children"), "\(command): \(text)")
        }
        #expect(try admin.object("INSPECT 3")["parents"] as? [Int] == [2])
    }

    /// A PUB with a reply subject hears of the jobs routes made of it, but only of those in
    /// queues the publisher may read: a job elsewhere does not exist for it, nor the route.
    @Test func aRoutedReplyNamesOnlyJobsThePublisherMayRead() throws {
        let server = try seeded()
        let admin = try connect(server, "admin")
        try admin.line("ROUTE orders.> billing")
        #expect(try admin.readLine() == "+OK 2")
        func reply(_ user: String) throws -> String {
            let client = try connect(server, user)
            try client.send("SUB _INBOX.r 1\r\nPUB orders.new _INBOX.r 1\r\nx\r\n")
            // The reply goes out once the jobs are on disk, after the PONG of a PING behind it.
            var line = try client.readLine()
            while !line.hasPrefix("MSG ") { line = try client.readLine() }
            return String(decoding: try client.readBytes(Int(line.split(separator: " ").last!)! + 2).dropLast(2), as: UTF8.self)
        }
        #expect(try reply("plain") == #"{"jobs":[3,4]}"#)
        #expect(try reply("worker") == #"{"jobs":[5]}"#)  // emails only
        // May read neither queue: no reply, as with no route. Its own ENQ behind the PUB is
        // answered with the commit that made the routed jobs (or a later one), when the reply
        // is sent too: a PING sent after that answer is answered after any reply.
        let producer = try connect(server, "producer")
        try producer.send("SUB _INBOX.r 1\r\nPUB orders.new _INBOX.r 1\r\nx\r\nENQ emails 1\r\nz\r\n")
        #expect(try producer.readLine().hasPrefix("+OK "))
        try producer.line("PING")
        #expect(try producer.readLine() == "PONG")
    }

    /// The monitoring port: server-wide documents need read on every queue; /queues shows
    /// what the user may read.
    @Test func monitoringFollowsTheSamePermissions() throws {
        let server = try DocketdProcess(["-m", "0", "-c", try file(Self.config)])
        let admin = try connect(server, "admin")
        try admin.send("ENQ emails 1\r\nx\r\nENQ billing 1\r\ny\r\n")
        _ = try admin.sync()
        let port = try #require(server.httpPort)
        func get(_ path: String, _ user: String?) throws -> String {
            let client = try LineClient(port: port)
            let authorization = user.map { "Authorization: Basic " + Data("\($0):\(Self.passwords[$0]!)".utf8).base64EncodedString() + "\r\n" } ?? ""
            try client.send("GET \(path) HTTP/1.1\r\n\(authorization)\r\n")
            return String(decoding: try client.readUntilClosed(), as: UTF8.self)
        }
        #expect(try get("/connz", nil).hasPrefix("HTTP/1.1 401 "))
        #expect(try get("/connz", "worker").hasPrefix("HTTP/1.1 403 "))
        #expect(try get("/metrics", "producer").hasPrefix("HTTP/1.1 403 "))
        #expect(try get("/connz", "auditor").hasPrefix("HTTP/1.1 200 "))
        // /varz: the counters for those who may read every queue, the INFO fields for the rest.
        #expect(try get("/varz", "auditor").contains("in_msgs"))
        let limited = try get("/varz", "worker")
        #expect(limited.hasPrefix("HTTP/1.1 200 ") && !limited.contains("in_msgs") && limited.contains("server_id"))
        let queues = try get("/queues", "worker")
        #expect(queues.hasPrefix("HTTP/1.1 200 ") && queues.contains(#""queue":"emails""#) && !queues.contains("billing"))
        #expect(try get("/healthz", nil).hasPrefix("HTTP/1.1 200 "))
    }

    @Test func configurationMistakesStopTheStart() throws {
        for (text, words) in [
            ("authorization { users = [ { user: a, password: b } ] }\ndocket { permissions { b: { read: \">\" } } }\n", "names 'b', who is not one"),
            ("authorization { users = [ { user: a, password: b } ] }\ndocket { permissions { a: { reed: \">\" } } }\n", "expected enqueue, work, read or admin"),
            ("authorization { users = [ { user: a, password: b } ] }\ndocket { permissions { a: { read: \"a.b\" } } }\n", "not a queue name, * or >"),
            ("authorization { users = [ { user: a, password: b, permissions: { publish: \"a..b\" } } ] }\n", "not a valid subject"),
            ("authorization { users = [ { user: a, password: b, permissions: { allow_responses: true } } ] }\n", "allow_responses is not supported"),
            ("authorization { users = [ { user: a, password: b } ] }\nno_auth_user: nobody\n", "no_auth_user 'nobody'"),
            ("authorization { users = [ { user: a, password: b }, { user: a, password: c } ] }\n", "'a' twice"),
        ] {
            let (status, output) = try DocketdProcess.runToExit(["-c", try file(text), "--port", "0", "--data-dir", NSTemporaryDirectory() + "unused-\(UUID().uuidString)"])
            #expect(status == 64, "\(output)")
            #expect(output.contains(words), "\(output)")
        }
    }
}

/// nats-server accounts: each a subject space of its own; jobs shared by all.
@Suite struct AccountsTests {
    static let config = """
        accounts {
          orders { users = [ { user: ann, password: a1 }, { user: amy, password: a2 } ] }
          billing { users = [ { user: bob, password: b1 } ] }
        }
        authorization { users = [ { user: root, password: r1 } ] }
        no_auth_user: amy
        """

    func connect(_ server: DocketdProcess, _ user: String?, _ password: String = "") throws -> LineClient {
        let client = try server.client()
        let credentials = user.map { #","user":"\#($0)","pass":"\#(password)""# } ?? ""
        _ = try client.handshake(#"{"verbose":false,"headers":true\#(credentials)}"#)
        return client
    }

    @Test func messagesStayInTheirAccount() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-\(UUID().uuidString).conf").path
        try Self.config.write(toFile: path, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", path])
        let ann = try connect(server, "ann", "a1")
        let amy = try connect(server, nil)  // no_auth_user: amy, in orders
        let bob = try connect(server, "bob", "b1")
        let root = try connect(server, "root", "r1")
        for client in [ann, amy, bob, root] { try client.line("SUB news 1") }
        for client in [ann, amy, bob, root] { #expect(try client.sync() == []) }
        try bob.send("PUB news 7\r\nbilling\r\n")
        #expect(try bob.readMessage().1 == Array("billing".utf8))
        try ann.send("PUB news 6\r\norders\r\n")
        #expect(try ann.readMessage().1 == Array("orders".utf8))
        #expect(try amy.readMessage().1 == Array("orders".utf8))
        // Nothing crossed: the next thing bob and root see is their own PONG.
        #expect(try bob.sync() == [])
        #expect(try root.sync() == [])

        // Jobs are shared, their events reach every account, and API answers go to the asker's.
        try bob.line("SUB $JOB.q.> 2")
        try ann.send("SUB _INBOX.x 3\r\nPUB $DOCKET.API.ENQ.q _INBOX.x 3\r\njob\r\n")
        let (reply, body) = try ann.readMessage()
        #expect(reply.hasPrefix("MSG _INBOX.x 3") && String(decoding: body, as: UTF8.self).contains(#""id":1"#))
        let (event, _) = try bob.readMessage()
        #expect(event.hasPrefix("MSG $JOB.q.enqueued 2"))
        try root.line("RESERVE q timeout=0")
        #expect(plainJobLine(try root.readMessage().0) == "JOB 1 q 1 3")
    }
}
