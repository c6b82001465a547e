extension DocketConnection.Options {
    /// Throws `badArgument` for a setting no connection can work with; checked before
    /// connecting. A duration that is not one reads as nil, and nil would otherwise mean "no
    /// limit" or "the default": a `requestTimeout` of "10 sec" or -1 made every call wait for
    /// ever, a `connectTimeout` of "5 s" quietly became 5 s.
    func check() throws(DocketError) {
        let durations: [(String, DocketDuration?)] = [
            ("connectTimeout", connectTimeout), ("requestTimeout", requestTimeout), ("reconnectWait", reconnectWait),
            ("reconnectMaxWait", reconnectMaxWait), ("reconnectJitter", reconnectJitter), ("reconnectTimeout", reconnectTimeout),
        ]
        for case let (name, value?) in durations where value.milliseconds == nil {
            throw .badArgument(
                "\(name) must be a duration from 0 to 366 days (250ms, 30s, 5m, or seconds as a number), not \(value.given)"
                    + (name == "requestTimeout" || name == "reconnectTimeout" ? "; nil is no limit" : ""))
        }
        guard pendingMessageLimit > 0 else {
            throw .badArgument("pendingMessageLimit must be 1 or more, not \(pendingMessageLimit)")
        }
        guard reconnectBufferSize >= 0 else {
            throw .badArgument("reconnectBufferSize must be 0 or more bytes, not \(reconnectBufferSize)")
        }
    }
}
