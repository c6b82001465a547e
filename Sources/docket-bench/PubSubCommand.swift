import ArgumentParser
import DocketWire
import DocketTLS
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `docket-bench pubsub`: publish/subscribe throughput against one loopback server.
struct PubSubCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pubsub",
        abstract: "Measure publish/subscribe throughput: one publisher, K subscribers.",
        discussion: """
            Subscribers connect and subscribe first; then one publisher writes every message in \
            large batches and the run ends when the subscribers have counted them all (exactly \
            once). Exits with status 1 if that did not happen within --timeout.
            """)

    @Option(help: "nats (docketd, nats-server) or redis (PUBLISH/SUBSCRIBE).")
    var `protocol` = PubSubProtocol.nats

    @Option(help: "The server's address; only loopback (127.0.0.0/8 or localhost) is accepted.")
    var host = "127.0.0.1"

    @Option(help: "The server's TCP port (default: 4222, or 6379 for redis).")
    var port: Int?

    @Option(help: "Messages to publish.")
    var messages = 1_000_000

    @Option(help: ArgumentHelp("Payload bytes per message, like 16, 256 or 1KiB.", valueName: "bytes"))
    var size = "16"

    @Option(help: "Subscriber connections, one subscription each.")
    var subscribers = 1

    @Option(help: "The subject to publish to (and, without --wildcard, to subscribe to).")
    var subject = "bench.x.y"

    @Flag(help: "Subscribe to '<first token>.>' (bench.> by default; the pattern bench.* in Redis) instead of the subject itself.")
    var wildcard = false

    @Option(help: "Put every subscription in this queue group: the subscribers share the messages.")
    var queueGroup: String?

    @Option(help: "Seconds the whole run may take before it fails.")
    var timeout = 60.0

    @Option(help: "A local server process whose CPU time during the run to report.")
    var serverPid: Int32?

    @Option(help: ArgumentHelp("A CA file (PEM): connect with TLS, checking the server's certificate against it, when the server requires TLS.", valueName: "pem"))
    var tlsCa: String?

    @Option(help: ArgumentHelp("Ports the subscribers connect to in turn, comma-separated: other docketd nodes of a cluster (default: --port).", valueName: "ports"))
    var subscriberPorts: String?

    @Option(help: "Seconds to wait after subscribing before publishing: the time a cluster takes to carry the interest across.")
    var settle = 0.0

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        _ = try makePlan()
    }

    func run() throws {
        let plan = try makePlan()
        // A server that drops a connection must surface as an error from write(2), not kill us.
        signal(SIGPIPE, SIG_IGN)
        let report = PubSubScenario(plan: plan).run()
        print(json ? report.json : report.text)
        if let failure = report.failure {
            FileHandle.standardError.write(Data("docket-bench: run failed: \(failure)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The options, checked and combined into a plan.
    func makePlan() throws -> PubSubPlan {
        guard let address = LoopbackAddress(host) else {
            throw ValidationError("--host must be a loopback address (127.0.0.0/8 or localhost); '\(host)' is not.")
        }
        let redis = `protocol` == .redis
        let port = self.port ?? (redis ? 6379 : 4222)
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535.") }
        guard messages >= 1 else { throw ValidationError("--messages must be at least 1.") }
        guard let payloadSize = Units.bytes(size), payloadSize <= 64 << 20 else {
            throw ValidationError("--size must be a size up to 64MiB, like 16, 256 or 1KiB.")
        }
        guard (1...1024).contains(subscribers) else { throw ValidationError("--subscribers must be between 1 and 1024.") }
        guard messages.multipliedReportingOverflow(by: subscribers).overflow == false else {
            throw ValidationError("--messages times --subscribers is too large.")
        }
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be between 0 and 86400 seconds.") }

        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        guard !subject.isEmpty, tokens.allSatisfy({ !$0.isEmpty }),
              !subject.contains(where: { $0.isWhitespace || $0 == "*" || $0 == ">" }) else {
            throw ValidationError("--subject must be a literal subject such as bench.x.y: dot-separated tokens, no spaces or wildcards.")
        }
        var subscribeSubject = subject
        if wildcard {
            guard tokens.count >= 2 else {
                throw ValidationError("--wildcard needs a subject of at least two tokens, so that '<first>.>' covers it.")
            }
            // Redis patterns are globs, where '*' also matches dots.
            subscribeSubject = tokens[0] + (redis ? ".*" : ".>")
        }
        if redis && queueGroup != nil {
            throw ValidationError("--queue-group: Redis pub/sub has no queue groups.")
        }
        // A Redis subscriber parses each message whole, so it must fit its receive buffer.
        if redis && payloadSize > Subscriber.receiveBufferSize / 2 {
            throw ValidationError("--size must be at most \(Subscriber.receiveBufferSize / 2) bytes with --protocol redis.")
        }
        if let queueGroup, queueGroup.isEmpty || queueGroup.contains(where: \.isWhitespace) {
            throw ValidationError("--queue-group must be a non-empty name without spaces.")
        }
        if let serverPid, ServerCPU.seconds(pid: serverPid) == nil {
            throw ValidationError("--server-pid \(serverPid): cannot read /proc/\(serverPid)/stat.")
        }
        var plan = PubSubPlan(
            protocolKind: `protocol`, address: address, port: port, messages: messages, size: payloadSize,
            subscribers: subscribers, publishSubject: subject, subscribeSubject: subscribeSubject,
            queueGroup: queueGroup, timeoutSeconds: timeout, serverPID: serverPid)
        if let subscriberPorts {
            let ports = subscriberPorts.split(separator: ",").map { Int($0) }
            guard !ports.isEmpty, ports.allSatisfy({ $0.map { (1...65535).contains($0) } ?? false }) else {
                throw ValidationError("--subscriber-ports must be ports from 1 to 65535, comma-separated.")
            }
            plan.subscriberPorts = ports.compactMap { $0 }
        }
        guard settle >= 0, settle <= 60 else { throw ValidationError("--settle must be from 0 to 60 seconds.") }
        plan.settleSeconds = settle
        if let tlsCa {
            guard !redis else { throw ValidationError("--tls-ca: TLS is measured with the NATS protocol only.") }
            do {
                plan.tls = try TLSContext.client(caFile: tlsCa, certificate: nil, key: nil)
            } catch {
                throw ValidationError("--tls-ca: \(error)")
            }
        }
        return plan
    }
}
