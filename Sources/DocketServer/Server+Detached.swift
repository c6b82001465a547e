import DocketWire

/// Job commands for callers that are not client connections (the dashboard on the monitoring
/// port): the same `perform`, the same permission check, the same answers.
extension Server {
    /// Carries out a read or admin job command (`verb` with its arguments as on the wire) for
    /// `principal` (nil: every right, as without users) and calls `answer` once with the reply,
    /// after the change is durable when it promises one. Commands that hold or wait for jobs
    /// (RESERVE, ACK, FAIL, PROGRESS, TOUCH, WAIT) need a connection and are refused.
    func performDetached(
        _ verb: JobVerb, _ arguments: String, body: [UInt8]? = nil, principal: Principal?, answer: @escaping (JobReply) -> Void
    ) {
        guard !Self.needsConnection(verb) else {
            return answer(.error(JobError(.badOption, "\(verb.name) needs a client connection")))
        }
        // A connection that never touches a socket: it carries who is asking, and an id of
        // its own that no client connection has.
        detachedCallers += 1
        let caller = Connection(server: self, id: (1 << 62) + detachedCallers, fd: -1, remoteHost: "http", remotePort: 0, now: monotonicMilliseconds())
        caller.principal = principal
        let text = Array(arguments.utf8)
        text.withUnsafeBytes { bytes in
            switch JobCommand.parse(verb, bytes, 0..<bytes.count) {
            case .failure(let error):
                answer(.error(error))
            case .success(let command):
                deliver(perform(command, bytes, body, for: caller), to: answer)
            }
        }
    }

    private func deliver(_ reply: JobReply, to answer: @escaping (JobReply) -> Void) {
        switch reply {
        case .later(let pending): pending.onAnswer(answer)
        case _ where reply.isDurable && postgres == nil: afterCommit.append { answer(reply) }
        default: answer(reply)
        }
    }

    private static func needsConnection(_ verb: JobVerb) -> Bool {
        switch verb {
        case .reserve, .ack, .fail, .progress, .touch, .wait: return true
        default: return false
        }
    }
}
