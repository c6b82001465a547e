import DocketClient
import DocketTestSupport
import Foundation
import Testing

/// README.md's Swift examples, run against a real docketd. Between `// README` and `// README end`
/// each test holds one ```swift block of README.md as printed, with the server's address put in:
/// `"127.0.0.1:4222"` is `address`, `"tls://127.0.0.1:4222"` is `tlsAddress`, a certificate file
/// `"ca.pem"` is `pki.path("ca.pem")`, and `Worker(queues:` (`AsyncWorker` too) gains `address: address,`; import
/// lines are at the top of this file. Tests/readme/test_readme.py checks that every block of the
/// README is here, so an example cannot drift from the library. What follows a block checks that
/// it did what its comments say.
@Suite(.timeLimit(.minutes(2)))
struct ReadmeTests {
    @Test func theBlockingExampleCompletesAJob() throws {
        try withServer { server in
            let address = server.address
            // README
            let worker = try Worker(address: address, queues: ["thumbnails"], options: Worker.Options(concurrency: 4)) { context in
                try context.progress(50, note: "resizing")
                return Array("done".utf8)                          // the result; a thrown error fails the attempt
            }
            try worker.start()                                     // runs on threads of its own until stop()

            let docket = try DocketConnection(address)
            let job = try docket.enqueue("thumbnails", #"{"image":"cat.png"}"#, options: JobOptions(attempts: 5))
            print(try docket.wait(job.id, timeout: 60).text ?? "still pending")   // done: the result, or the last error
            worker.stop()                                          // finishes the jobs it is running, then ends
            // README end
            let info = try docket.inspect(job.id)
            #expect(info.state == "completed" && info.attempts == 1 && info.progress == 50)
            #expect(try docket.wait(job.id, timeout: 1) == .completed(result: Array("done".utf8)))
            docket.close()
        }
    }

    @Test func theAsyncExampleSeesTheCompletedEvent() async throws {
        let server = try DocketdProcess([])
        defer { server.stop(timeout: 5) }
        let address = server.address
        // README
        let client = try await AsyncDocketConnection(address)
        let events = try client.events(queue: "thumbnails", event: "completed")   // typed JobEvents
        try await client.flush()
        let id = try await client.enqueue("thumbnails", #"{"image":"dog.png"}"#).id

        let resizer = try AsyncWorker(address: address, queues: ["thumbnails"], options: Worker.Options(concurrency: 4)) { context in
            try await context.progress(50, note: "resizing")
            return Array("done".utf8)
        }
        let running = Task { try await resizer.run() }         // until resizer.stop() or running.cancel()

        for await event in events where event.id == id {
            print(event.kind, event.runMilliseconds ?? 0)      // completed 3
            break
        }
        print(try await client.wait(id).text ?? "")            // done
        resizer.stop()
        try await running.value
        await client.close()
        // README end
        #expect(resizer.completed == 1)
    }

    @Test func theBatchExampleGathersItsParentsResults() throws {
        try withServer { server in
            let docket = try DocketConnection(server.address)
            defer { docket.close() }
            let address = server.address
            // README
            let ids = try docket.batch([
                .init(queue: "resize", text: "img-001"),
                .init(queue: "resize", text: "img-002"),
                .init(queue: "report", text: "", options: JobOptions(after: [.batchItem(1), .batchItem(2)])),
            ])                                                     // [41, 42, 43]; report is blocked
            let reporter = try Worker(address: address, queues: ["report"]) { context in
                let results = try context.parents().compactMap(\.result)   // PARENTS: state, result, error
                return Array(results.joined(separator: "\n").utf8)
            }
            // README end
            let report = try docket.inspect(ids[2])
            #expect(ids.count == 3 && report.state == "blocked")
            let resizer = try Worker(address: address, queues: ["resize"]) { context in
                Array(context.text.replacingOccurrences(of: "img", with: "small").utf8)
            }
            try resizer.start()
            try reporter.start()
            defer { resizer.stop(); reporter.stop() }
            #expect(try docket.wait(ids[2], timeout: 30).text == "small-001\nsmall-002")
        }
    }

    @Test func theTLSExampleConnectsWithAClientCertificate() throws {
        let pki = try TestPKI()
        try withServer(pki.serverFlags(verifyClients: true)) { server in
            let tlsAddress = "tls://\(server.address)"
            // README
            let tls = DocketConnection.TLSOptions(caFile: pki.path("ca.pem"), certificateFile: pki.path("client.pem"), keyFile: pki.path("client.key"))
            let secure = try DocketConnection(tlsAddress, options: .init(tls: tls))
            print(secure.tlsVersion ?? "plain")                    // TLSv1.3
            // README end
            #expect(secure.tlsVersion == "TLSv1.3")
            #expect(try secure.stats().connections >= 1)
            secure.close()
        }
    }
}
