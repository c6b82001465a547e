import DocketEngine
import DocketWire

/// What each client command does.
extension Server {
    func execute(_ op: ClientOp, _ bytes: UnsafeRawBufferPointer, _ connection: Connection) {
        if let batch = connection.batch { return collect(op, bytes, into: batch, for: connection) }
        switch op {
        case .pub(let subject, let reply, let payload):
            publish(connection, bytes, subject, reply, message: payload, headerCount: nil)
        case .hpub(let subject, let reply, let headerCount, let message):
            guard connection.options.headers else {
                return protocolError(connection, ProtocolError(.headersNotNegotiated))
            }
            // An empty header block is no headers: nats-server delivers such a message as MSG.
            publish(connection, bytes, subject, reply, message: message, headerCount: headerCount == 0 ? nil : headerCount)
        case .sub(let subject, let queue, let sid):
            subscribe(connection, Array(bytes[subject]), queue.map { Array(bytes[$0]) }, Array(bytes[sid]))
        case .unsub(let sid, let max):
            unsubscribe(connection, Array(bytes[sid]), max: max)
        case .ping:
            replies(for: connection).append("PONG\r\n")
            if !connection.sentFirstPong {
                connection.sentFirstPong = true
                // What changed in the cluster since its INFO waited for this PONG.
                if let table = routeTable, connection.clusterURLsSeen != table.clientURLsVersion { sendClusterInfo(connection) }
            }
        case .pong:
            connection.pingsOutstanding = 0
        case .connect(let json):
            connect(connection, UnsafeRawBufferPointer(rebasing: bytes[json]))
        case .help:
            replies(for: connection).appendDataReply("HELP", body: HelpText.body)
        case .job(let verb, let arguments, let payload):
            executeJob(verb, bytes, arguments, payload, connection)
        }
    }

    private func acknowledge(_ connection: Connection) {
        if connection.options.verbose { replies(for: connection).append("+OK\r\n") }
    }

    // MARK: CONNECT

    private func connect(_ connection: Connection, _ json: UnsafeRawBufferPointer) {
        guard let document = JSONValue.parse(json) else {
            return protocolError(connection, ProtocolError(.invalidProtocol, "CONNECT needs a JSON object"))
        }
        if let authenticator = config.authenticator, !connection.isAuthenticated {
            // Later commands wait while a password hash is checked; the auth timeout still runs.
            connection.isCheckingCredentials = true
            var settledLater = false
            let verdict = connection.certificateIdentities.map { authenticator.verdict(certificate: $0) }
                ?? authenticator.verdict(connect: document, nonce: connection.nonce)
            let generation = credentialsGeneration
            connection.passwordCheck = settle(verdict, from: connection.remoteHost) { [unowned self] proved in
                connection.passwordCheck = nil
                guard !connection.isClosed, connection.closeReason == nil else { return }
                connection.isCheckingCredentials = false
                // A reload while the hash was checked: judged by the rules it was checked against,
                // admitted only under the rules in force now.
                let principal = generation == credentialsGeneration
                    ? proved : proved.flatMap { readmitted($0, connection, judgedBy: authenticator) }
                guard let principal else {
                    if case .refusedJWT(let reason) = verdict {
                        warnFailedLogin("\(connection.label) - Authorization Violation: \(reason)")
                    } else if let identities = connection.certificateIdentities {
                        warnFailedLogin("\(connection.label) - Authorization Violation: no user for the client certificate (\(identities.joined(separator: ", ")))")
                    } else {
                        warnFailedLogin("\(connection.label) - Authorization Violation: the CONNECT credentials are wrong or missing")
                    }
                    return protocolError(connection, ProtocolError(.authorizationViolation))
                }
                if let account = principal.account, let limit = authenticator.connectionLimit(ofAccount: account),
                    connections.values.count(where: { $0.isAuthenticated && $0.closeReason == nil && $0.principal?.account == account }) >= limit
                {
                    warnFailedLogin("\(connection.label) - maximum account active connections exceeded: account \(account) allows \(limit)")
                    return protocolError(connection, ProtocolError(.maxAccountConnections))
                }
                connection.isAuthenticated = true
                connection.principal = principal
                // An NKEY login carries no user, password or token, but is no no_auth_user (which
                // never names an NKEY user).
                connection.isNoAuthUser = connection.certificateIdentities == nil && !Self.carriesCredentials(document)
                    && principal.name == authenticator.noAuthUser
                if let timer = connection.authTimer { EventLoop.remove(timer) }
                if case .operatorMode = authenticator.credentials { connection.userJWT = document["jwt"]?.stringValue }
                scheduleExpiry(connection)
                applyConnect(connection, document)
                // Settled now, the parse loop that called us goes on by itself; settled in a
                // later pass, the commands that waited behind the CONNECT run from here.
                if settledLater { resume(connection) }
            }
            settledLater = true
            return
        }
        applyConnect(connection, document)
    }

    static func carriesCredentials(_ document: JSONValue) -> Bool {
        document["user"]?.stringValue != nil || document["pass"]?.stringValue != nil || document["auth_token"]?.stringValue != nil
    }

    private func applyConnect(_ connection: Connection, _ document: JSONValue) {
        switch connection.options.applying(connect: document) {
        case .failure(let error):
            protocolError(connection, error)
        case .success(let options):
            connection.options = options
            connection.sentConnect = true
            loggedIn(connection)
            log.debug("\(connection.label) - CONNECT name='\(options.name)' lang='\(options.lang)' version='\(options.version)'")
            acknowledge(connection)
        }
    }

    // MARK: Publishing

    /// A client's PUB or HPUB: API requests go to the job API, routes turn the message into
    /// jobs, and every matching subscription gets it.
    private func publish(
        _ publisher: Connection, _ bytes: UnsafeRawBufferPointer, _ subjectRange: Range<Int>,
        _ replyRange: Range<Int>?, message messageRange: Range<Int>, headerCount: Int?
    ) {
        stats.messagesIn += 1
        publisher.messagesIn += 1
        stats.payloadBytesIn += messageRange.count
        publisher.bytesIn += messageRange.count
        let subject = UnsafeRawBufferPointer(rebasing: bytes[subjectRange])
        let isValid = Subject.isValidLiteral(subject)
        // nats-server complains of an invalid subject only in pedantic mode, then checks the
        // publish permissions as for any subject (an allow list permits none with an empty
        // token), and says +OK when verbose; either way the message goes nowhere.
        if !isValid && publisher.options.pedantic { protocolError(publisher, ProtocolError(.invalidPublishSubject)) }
        if publisher.permissions != nil && !mayPublish(publisher, subject) {
            return protocolError(publisher, ProtocolError(.permissionsViolation, "Publish to \"\(String(decoding: subject, as: UTF8.self))\""))
        }
        guard isValid else { return acknowledge(publisher) }
        let reply = replyRange.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }
        let message = UnsafeRawBufferPointer(rebasing: bytes[messageRange])
        if JobAPI.isRequest(subject) {
            acknowledge(publisher)
            return handleAPIRequest(publisher, subject, reply, message, headerCount)
        }
        // Routed jobs must be on disk before the publisher hears +OK.
        let routed = routeIndex.count > 0 ? routeMessage(subject, reply, message, headerCount, from: publisher) : 0
        if routed > 0 {
            if publisher.options.verbose { holdReplies(publisher).append("+OK\r\n") }
        } else if routed == 0 {
            acknowledge(publisher)
        }
        let deliveries = fanOut(subject, reply, message, headerCount, from: publisher, in: publisher.account)
        if deliveries + max(routed, 0) == 0, let reply, publisher.options.noResponders {
            sendNoResponders(to: publisher, reply: reply)
        }
    }

    /// What `subject` matches in `index`, the nodes the match walked through wildcards counted
    /// as the work of the command that made it (`ServerStats.deliveryWork`): subscriptions on
    /// every mix of a literal and `*` make one match thousands of steps, and a turn counted by
    /// messages alone could hold 8,192 such PUBs, 1.6 ms each with 4,096 subscriptions of 12
    /// tokens (a 4,096-subscription flood held another client's PING 5 s in a debug build).
    func subscriptions(of index: SubscriptionIndex, matching subject: UnsafeRawBufferPointer) -> SubjectMatch {
        let walkedBefore = index.branchNodesWalked
        let match = index.match(subject)
        stats.branchNodesWalked += index.branchNodesWalked &- walkedBefore
        return match
    }

    /// Delivers one message to every matching subscription and one member of each queue group;
    /// returns how many got it. `publisher` is nil for messages the server itself publishes.
    @discardableResult
    func fanOut(
        _ subject: UnsafeRawBufferPointer, _ reply: UnsafeRawBufferPointer?, _ message: UnsafeRawBufferPointer,
        _ headerCount: Int?, from publisher: Connection?, in account: Account
    ) -> Int {
        let match = subscriptions(of: account.index, matching: subject)
        var deliveries = 0
        fanOutSerial &+= 1
        let cluster = account === globalAccount ? self.cluster : nil
        // While the link is up, queue groups are served from the cluster (this node's members
        // included), so that each group gets the message once.
        let groupsUpstream = cluster?.servesGroups ?? false
        for subscription in match.plain {
            if deliver(subscription, from: publisher, subject, reply, message, headerCount) { deliveries += 1 }
        }
        var servedHere: [[UInt8]] = []
        for group in match.groups where !groupsUpstream {
            let member = group.nextMember { candidate in
                let owner = unsafeDowncast(candidate.owner, to: Connection.self)
                return owner.isClosed || (owner === publisher && publisher?.options.echo == false)
                    || (candidate.isFiltered && owner.permissions?.mayReceive(subject) == false)
            }
            if let member, deliver(member, from: publisher, subject, reply, message, headerCount) {
                deliveries += 1
                if cluster != nil { servedHere.append(group.name) }
            }
        }
        if let cluster {
            // Once, up to the other nodes, naming the groups served here (ServedGroupsMark).
            cluster.publish(subject, reply, headerCount, message, servedGroups: servedHere)
            if cluster.isConnected { deliveries += 1 }
        }
        return deliveries
    }

    /// A message another node sent, over a route or the nats-server cluster link: to this node's
    /// own subscribers only, never on to a route (the node it came from sends each node its
    /// copy), the job API or job routes. With `queue`, to one member of that group here;
    /// without, to every plain subscription.
    func deliverFromAnotherNode(
        in account: Account, _ subject: UnsafeRawBufferPointer, _ reply: UnsafeRawBufferPointer?, queue: UnsafeRawBufferPointer?,
        _ headerCount: Int?, _ message: UnsafeRawBufferPointer
    ) {
        stats.messagesIn += 1
        stats.payloadBytesIn += message.count
        let match = subscriptions(of: account.index, matching: subject)
        if let queue {
            for group in match.groups where group.name.elementsEqual(queue) {
                let member = group.nextMember { candidate in
                    let owner = unsafeDowncast(candidate.owner, to: Connection.self)
                    return owner.route != nil || owner.isClosed || (candidate.isFiltered && owner.permissions?.mayReceive(subject) == false)
                }
                if let member { _ = deliver(member, from: nil, subject, reply, message, headerCount) }
            }
            return
        }
        for subscription in match.plain where unsafeDowncast(subscription.owner, to: Connection.self).route == nil {
            _ = deliver(subscription, from: nil, subject, reply, message, headerCount)
        }
    }

    /// Appends one MSG (or HMSG) for `subscription`; false if it was not delivered.
    @inline(__always)
    func deliver(
        _ subscription: Subscription, from publisher: Connection?, _ subject: UnsafeRawBufferPointer,
        _ reply: UnsafeRawBufferPointer?, _ message: UnsafeRawBufferPointer, _ headerCount: Int?
    ) -> Bool {
        let target = unsafeDowncast(subscription.owner, to: Connection.self)
        if target.isClosed || !subscription.isIndexed { return false }
        if let link = target.route { return deliverToRoute(link, target, subscription, subject, reply, message, headerCount) }
        if target === publisher && publisher?.options.echo == false { return false }
        if subscription.isFiltered && target.permissions?.mayReceive(subject) == false { return false }
        subscription.sid.withUnsafeBytes { sid in
            if let headerCount {
                if target.options.headers {
                    target.output.appendHmsg(
                        subject: subject, sid: sid, reply: reply, headerCount: headerCount, message: message)
                } else {
                    // A subscriber that did not negotiate headers gets the payload alone.
                    target.output.appendMsg(
                        subject: subject, sid: sid, reply: reply,
                        payload: UnsafeRawBufferPointer(rebasing: message[headerCount...]))
                }
            } else {
                target.output.appendMsg(subject: subject, sid: sid, reply: reply, payload: message)
            }
        }
        stats.messagesOut += 1
        target.messagesOut += 1
        target.bytesOut += message.count
        stats.payloadBytesOut += message.count
        subscription.delivered += 1
        if subscription.isExhausted { removeSubscription(subscription, of: target) }
        if target.output.readableCount > config.maxPending {
            slowConsumer(target, reason: "pending output over \(config.maxPending) bytes")
        } else {
            queueFlush(target)
        }
        return true
    }

    /// Tells a requester that nobody received its request: a 503 status message on the
    /// requester's own subscription that matches the reply subject, as nats-server does.
    private func sendNoResponders(to publisher: Connection, reply: UnsafeRawBufferPointer) {
        guard publisher.options.headers, Subject.isValidLiteral(reply) else { return }
        let match = subscriptions(of: publisher.account.index, matching: reply)
        let own = match.plain.first { $0.owner === publisher }
            ?? match.groups.lazy.compactMap { $0.members.first { $0.owner === publisher } }.first
        guard let own else { return }
        let header = NoResponders.headerBlock
        own.sid.withUnsafeBytes { sid in
            publisher.output.appendHmsg(
                subject: reply, sid: sid, reply: nil, headerCount: header.utf8CodeUnitCount,
                message: UnsafeRawBufferPointer(start: header.utf8Start, count: header.utf8CodeUnitCount))
        }
        queueFlush(publisher)
    }

    // MARK: Subscriptions

    private func subscribe(_ connection: Connection, _ subject: [UInt8], _ queue: [UInt8]?, _ sid: [UInt8]) {
        // In nats-server's order: permissions (an allow list grants no subject with an empty
        // token, so a restricted user hears of the permission, not a fatal-looking error), the
        // subscription limit, a sid already in use (ignored), then the subject itself.
        let admission = connection.permissions?.admit(subscription: subject, queue: queue) ?? .granted
        if admission == .refused {
            let group = queue.map { " using queue \"\(String(decoding: $0, as: UTF8.self))\"" } ?? ""
            return protocolError(
                connection, ProtocolError(.permissionsViolation, "Subscription to \"\(String(decoding: subject, as: UTF8.self))\"\(group)"))
        }
        if config.maxSubscriptions > 0 && connection.subscriptions.count >= config.maxSubscriptions {
            return protocolError(connection, ProtocolError(.maxSubscriptions))
        }
        if connection.subscriptions[sid] != nil {
            // NATS ignores a second SUB with a sid already in use.
            return acknowledge(connection)
        }
        guard Subject.isValidFilter(subject) else {
            return protocolError(connection, ProtocolError(.invalidSubject))
        }
        let subscription = Subscription(owner: connection, subject: subject, queue: queue, sid: sid)
        guard hasSubscriptionMemory(for: subscription) else {
            if let count = subscriptionMemoryRefusals.occurred(at: monotonicMilliseconds()) {
                log.warn(
                    "\(connection.label) - SUB refused: subscriptions take \(subscriptionMemory) bytes together, of the \(config.maxSubscriptionMemory) --max-subscription-memory allows"
                        + (count > 1 ? " (\(count) SUBs refused since the last such line)" : ""))
            }
            return protocolError(connection, ProtocolError(.maxSubscriptions))
        }
        subscription.isFiltered = admission == .filtered
        addSubscriptionMemory(subscription)
        connection.account.index.insert(subscription)
        connection.subscriptions[sid] = subscription
        noteLifecycleInterest(subscription, added: true)
        if let cluster, connection.account === globalAccount { cluster.interest(in: subscription, added: true) }
        if routeTable != nil { clientInterestChanged(subscription, in: connection.account, added: true) }
        acknowledge(connection)
    }

    private func unsubscribe(_ connection: Connection, _ sid: [UInt8], max: Int?) {
        if let subscription = connection.subscriptions[sid] {
            if let max, max > subscription.delivered {
                subscription.maxMessages = max
            } else {
                removeSubscription(subscription, of: connection)
            }
        }
        acknowledge(connection)
    }

    /// What a subscription counts toward `--max-subscription-memory`: its bytes, and about what
    /// the index, the connection's table and the object itself take beside them (measured: 4.2
    /// KB a subscription of a 3.9 KB subject, 560 bytes of a short one).
    static func subscriptionCharge(_ subscription: Subscription) -> Int {
        subscription.subject.count + (subscription.queue?.count ?? 0) + subscription.sid.count + 512
    }

    /// Whether `subscription` fits in what `--max-subscription-memory` leaves.
    func hasSubscriptionMemory(for subscription: Subscription) -> Bool {
        subscriptionMemory + Self.subscriptionCharge(subscription) <= config.maxSubscriptionMemory
    }

    func addSubscriptionMemory(_ subscription: Subscription) {
        subscriptionMemory += Self.subscriptionCharge(subscription)
    }

    func removeSubscription(_ subscription: Subscription, of connection: Connection) {
        guard subscription.isIndexed else { return }
        subscriptionMemory -= Self.subscriptionCharge(subscription)
        connection.account.index.remove(subscription)
        connection.subscriptions[subscription.sid] = nil
        noteLifecycleInterest(subscription, added: false)
        if let cluster, connection.account === globalAccount { cluster.interest(in: subscription, added: false) }
        if routeTable != nil, connection.route == nil { clientInterestChanged(subscription, in: connection.account, added: false) }
    }
}
