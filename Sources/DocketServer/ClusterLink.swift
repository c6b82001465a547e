import DocketEngine
import DocketTLS
import DocketWire

/// docketd as a plain client of a nats-server cluster (`--cluster-nats`), so that messages,
/// lifecycle events and route outcomes reach subscribers on every docketd node.
///
/// Two upstream connections, because NATS queue groups must span nodes:
/// - `plain` (CONNECT `echo:false`) carries every message published on this node up, once,
///   and holds one upstream subscription per distinct subject that local plain subscribers
///   want. What comes down on it is delivered to local plain subscribers only; `echo:false`
///   means a message of ours never comes back, so there are no duplicates and no loops.
/// - `groups` holds one upstream queue subscription per local (subject, queue group), so the
///   cluster picks one member of each group among all nodes. A message published here is not
///   handed to a local queue group directly while the link is up: it goes up and comes back
///   on `groups` to whichever node the cluster chose (on this one as to any other). While the
///   link is down the node serves its groups itself, and the message goes up later marked
///   with them (`ServedGroupsMark`), so that no group gets it twice.
/// Messages from upstream are never sent up again, never turned into jobs by routes, and never
/// taken as `$DOCKET.API` requests: those act once, on the node the publisher is connected to.
/// Only the global account (the subject space of clients without accounts) is bridged.
public final class ClusterLink {
    let plain: UpstreamChannel
    let groups: UpstreamChannel
    /// Upstream subscriptions and how many local subscriptions need each.
    private var plainInterest: [[UInt8]: (sid: Int, count: Int)] = [:]
    private var groupInterest: [GroupKey: (sid: Int, count: Int)] = [:]
    /// The queue group of each upstream queue subscription.
    private var groupOfSid: [Int: [UInt8]] = [:]
    private var nextSid = 1

    struct GroupKey: Hashable {
        let subject: [UInt8]
        let queue: [UInt8]
    }

    init(
        addresses: [UpstreamChannel.Address], serverID: String, loop: EventLoop, log: Log, maxPending: Int, pingIntervalMilliseconds: Int,
        tlsContext: TLSContext?
    ) {
        plain = UpstreamChannel(
            name: "docketd \(serverID)", addresses: addresses, loop: loop, log: log, echo: false, maxPending: maxPending,
            pingIntervalMilliseconds: pingIntervalMilliseconds, tlsContext: tlsContext)
        groups = UpstreamChannel(
            name: "docketd \(serverID) groups", addresses: addresses, loop: loop, log: log, echo: false, maxPending: maxPending,
            pingIntervalMilliseconds: pingIntervalMilliseconds, tlsContext: tlsContext)
    }

    var isConnected: Bool { plain.isConnected && groups.isConnected }

    /// The TLS context both connections make their next handshakes with (a reload's).
    func useTLSContext(_ context: TLSContext) {
        plain.useTLSContext(context)
        groups.useTLSContext(context)
    }

    /// Whether a local publication's queue groups are served through the cluster: only while
    /// both connections are up (else the message would never come back down).
    var servesGroups: Bool { isConnected }

    /// Sends a message up, once. `servedGroups` are the queue groups this node gave it to
    /// itself (its link was down): the message carries their names, so that the cluster does
    /// not give it to those groups again when it goes up. A client's first header that reads
    /// as the mark gets an empty mark before it, or the other nodes would take it for theirs.
    func publish(
        _ subject: UnsafeRawBufferPointer, _ reply: UnsafeRawBufferPointer?, _ headerCount: Int?, _ message: UnsafeRawBufferPointer,
        servedGroups: [[UInt8]]
    ) {
        guard !servedGroups.isEmpty || ServedGroupsMark.isMarked(headerCount: headerCount, message: message) else {
            return plain.publish(subject, reply, headerCount, message)
        }
        let marked = ServedGroupsMark.marked(headerCount: headerCount, message: message, groups: servedGroups)
        marked.bytes.withUnsafeBytes { plain.publish(subject, reply, marked.headerCount, $0) }
    }

    func start() {
        plain.start()
        groups.start()
    }

    func stop() {
        plain.stop()
        groups.stop()
    }

    func flush() {
        plain.flushOutput()
        groups.flushOutput()
    }

    func interest(in subscription: Subscription, added: Bool) {
        if let queue = subscription.queue {
            let key = GroupKey(subject: subscription.subject, queue: queue)
            if added {
                if let entry = groupInterest[key] {
                    groupInterest[key] = (entry.sid, entry.count + 1)
                } else {
                    let sid = takeSid()
                    groupInterest[key] = (sid, 1)
                    groupOfSid[sid] = queue
                    groups.subscribe(sid: sid, subject: subscription.subject, queue: queue)
                }
            } else if let entry = groupInterest[key] {
                if entry.count > 1 {
                    groupInterest[key] = (entry.sid, entry.count - 1)
                } else {
                    groupInterest[key] = nil
                    groupOfSid[entry.sid] = nil
                    groups.unsubscribe(sid: entry.sid)
                }
            }
            return
        }
        if added {
            if let entry = plainInterest[subscription.subject] {
                plainInterest[subscription.subject] = (entry.sid, entry.count + 1)
            } else {
                let sid = takeSid()
                plainInterest[subscription.subject] = (sid, 1)
                plain.subscribe(sid: sid, subject: subscription.subject, queue: nil)
            }
        } else if let entry = plainInterest[subscription.subject] {
            if entry.count > 1 {
                plainInterest[subscription.subject] = (entry.sid, entry.count - 1)
            } else {
                plainInterest[subscription.subject] = nil
                plain.unsubscribe(sid: entry.sid)
            }
        }
    }

    func queueGroup(ofSid sid: Int) -> [UInt8]? { groupOfSid[sid] }

    private func takeSid() -> Int {
        defer { nextSid += 1 }
        return nextSid
    }

    /// When the link last went up or down (monotonic ms): up since the later of its two
    /// connections' ups, down since the earlier down of those that are down.
    var stateChangedAt: Int {
        let channels = [plain, groups]
        if isConnected { return channels.map(\.stateChangedAt).max()! }
        return channels.filter { !$0.isConnected }.map(\.stateChangedAt).min()!
    }

    /// The link's state for STATS, `/varz` and `/healthz` (which adds its own members).
    var document: String { document { _ in } }

    func document(adding more: (inout JSONObjectWriter) -> Void) -> String {
        var writer = JSONObjectWriter()
        writer.add("connected", isConnected)
        writer.add("url", plain.connectedAddress.map(\.display))
        writer.add("error", plain.lastError ?? groups.lastError)
        writer.add("reconnects", plain.reconnects + groups.reconnects)
        writer.add("out_msgs", plain.messagesOut)
        writer.add("in_msgs", plain.messagesIn + groups.messagesIn)
        writer.add("dropped_msgs", plain.droppedMessages)
        writer.add("pending_bytes", plain.pendingBytes + groups.pendingBytes)
        writer.add("max_payload", plain.serverMaxPayload)
        writer.add("oversized_msgs", plain.oversizedMessages)
        writer.add("subscriptions", plainInterest.count + groupInterest.count)
        more(&writer)
        return writer.result
    }

    /// `nats://[user:password@]host[:port]` or `tls://…`, comma-separated; the port defaults to
    /// 4222.
    public static func addresses(_ text: String) -> [NATSAddress]? {
        var result: [UpstreamChannel.Address] = []
        for item in text.split(separator: ",") {
            var rest = Substring(item.trimmingBlanks())
            guard !rest.isEmpty else { return nil }
            var requiresTLS = false
            if rest.hasPrefix("nats://") {
                rest = rest.dropFirst(7)
            } else if rest.hasPrefix("tls://") {
                rest = rest.dropFirst(6)
                requiresTLS = true
            } else if rest.contains("://") {
                return nil
            }
            guard let authority = Authority(rest, defaultPort: 4222, ports: 1...65535) else { return nil }
            result.append(
                UpstreamChannel.Address(
                    host: authority.host, port: authority.port, user: authority.user, password: authority.password, requiresTLS: requiresTLS))
        }
        return result.isEmpty ? nil : result
    }
}

extension Substring {
    func trimmingBlanks() -> Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}

extension Server {
    /// Joins the nats-server cluster named by `--cluster-nats`, if any.
    func startCluster() throws {
        guard let addresses = config.clusterNATS else { return }
        var tlsContext: TLSContext?
        if let tls = config.clusterTLS { tlsContext = try Self.clusterLinkTLSContext(tls) }
        let link = ClusterLink(
            addresses: addresses, serverID: serverID, loop: loop, log: log, maxPending: config.clusterMaxPending,
            pingIntervalMilliseconds: config.clusterPingIntervalMilliseconds, tlsContext: tlsContext)
        link.plain.onMessage = { [unowned self] bytes, subject, _, reply, headerCount, message in
            deliverFromCluster(bytes, subject, reply, headerCount, message, queueGroup: nil)
        }
        link.groups.onMessage = { [unowned self, unowned link] bytes, subject, sid, reply, headerCount, message in
            guard let queue = link.queueGroup(ofSid: sid) else { return }  // unsubscribed meanwhile
            deliverFromCluster(bytes, subject, reply, headerCount, message, queueGroup: queue)
        }
        cluster = link
        refreshLifecycleRecording()
        link.start()
        log.info("Joining the NATS cluster at \(addresses.map(\.display).joined(separator: ", ")) for events across nodes")
    }

    /// A message from another node: to local plain subscribers (from `plain`), or to one local
    /// member of `queueGroup` (from `groups`).
    private func deliverFromCluster(
        _ bytes: UnsafeRawBufferPointer, _ subjectRange: Range<Int>, _ replyRange: Range<Int>?, _ headerCount: Int?,
        _ messageRange: Range<Int>, queueGroup: [UInt8]?
    ) {
        let subject = UnsafeRawBufferPointer(rebasing: bytes[subjectRange])
        let reply = replyRange.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }
        let message = UnsafeRawBufferPointer(rebasing: bytes[messageRange])
        if headerCount != nil, let mark = ServedGroupsMark.read(headerCount: headerCount, message: message) {
            // Given to these groups on the node that published it, while its link was down.
            if let queueGroup, mark.groups.contains(queueGroup) { return }
            return mark.bytes.withUnsafeBytes { original in
                deliverLocally(subject, reply, mark.headerCount, original, queueGroup: queueGroup)
            }
        }
        deliverLocally(subject, reply, headerCount, message, queueGroup: queueGroup)
    }

    private func deliverLocally(
        _ subject: UnsafeRawBufferPointer, _ reply: UnsafeRawBufferPointer?, _ headerCount: Int?, _ message: UnsafeRawBufferPointer,
        queueGroup: [UInt8]?
    ) {
        guard let queueGroup else {
            return deliverFromAnotherNode(in: globalAccount, subject, reply, queue: nil, headerCount, message)
        }
        queueGroup.withUnsafeBytes { queue in
            deliverFromAnotherNode(in: globalAccount, subject, reply, queue: queue, headerCount, message)
        }
    }
}
