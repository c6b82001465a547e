extension DocketConnection {
    /// One job for `enqueueEach` and `batch`: its queue, payload and options.
    public struct JobRequest: Sendable, Equatable {
        public var queue: String
        public var payload: [UInt8]
        public var options: JobOptions

        public init(queue: String, payload: [UInt8], options: JobOptions = JobOptions()) {
            self.queue = queue
            self.payload = payload
            self.options = options
        }

        /// A job whose payload is `text`, as UTF-8.
        public init(queue: String, text: String, options: JobOptions = JobOptions()) {
            self.init(queue: queue, payload: Array(text.utf8), options: options)
        }
    }

    /// Enqueues `jobs` pipelined, like `enqueueMany` (every ENQ sent, then every reply read),
    /// but each job with its own queue and options and its own result, in order: a job the
    /// client or the server refuses does not stop the others. When the connection is lost, the
    /// jobs whose replies had not come fail with `connectionLost` (their outcome is unknown).
    public func enqueueEach(_ jobs: [JobRequest]) -> [Result<Enqueued, DocketError>] {
        var results = [Result<Enqueued, DocketError>?](repeating: nil, count: jobs.count)
        var pendings: [(index: Int, pending: Pending)] = []
        pendings.reserveCapacity(jobs.count)
        let deadline = Deadline.within(options.requestTimeout?.milliseconds)
        let limit = maxPayload
        for (index, job) in jobs.enumerated() {
            do throws(DocketError) {
                guard job.payload.count <= limit else {
                    throw .badArgument("\(job.payload.count) bytes is more than the server's max_payload of \(limit)")
                }
                let bytes = try Wire.enqueue(queue: job.queue, payload: job.payload, options: job.options)
                pendings.append((index, try sendBytes(bytes, expecting: .enqueue, whenDisconnected: .wait(deadline))!))
            } catch {
                results[index] = .failure(error)
            }
        }
        for (index, pending) in pendings {
            do throws(DocketError) {
                guard case .enqueued(let result) = try wait(pending, deadline: deadline) else {
                    throw .protocolViolation("a reply of the wrong kind")
                }
                results[index] = .success(result)
            } catch {
                results[index] = .failure(error)
            }
        }
        return results.map { $0! }
    }
}
