/// Subject rules: tokens separated by `.`, none empty; `*` matches one token and `>` one or
/// more trailing tokens, both only as whole tokens (`a*b` is an ordinary token) and `>` only
/// last. Subjects are case-sensitive bytes; whitespace never reaches here because it separates
/// fields on the control line.
public enum Subject {
    /// Whether `bytes` may be subscribed to (wildcards allowed).
    public static func isValidFilter(_ bytes: UnsafeRawBufferPointer) -> Bool {
        validate(bytes, wildcards: true)
    }

    /// Whether `bytes` may be published to: a valid subject with no wildcard tokens.
    public static func isValidLiteral(_ bytes: UnsafeRawBufferPointer) -> Bool {
        validate(bytes, wildcards: false)
    }

    public static func isValidFilter(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { isValidFilter($0) }
    }

    public static func isValidLiteral(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { isValidLiteral($0) }
    }

    private static func validate(_ bytes: UnsafeRawBufferPointer, wildcards: Bool) -> Bool {
        let count = bytes.count
        guard count > 0 else { return false }
        var tokenStart = 0
        var index = 0
        while index <= count {
            if index == count || bytes[index] == Byte.dot {
                let length = index - tokenStart
                if length == 0 { return false }
                if length == 1 {
                    let byte = bytes[tokenStart]
                    if byte == Byte.star || byte == Byte.greater {
                        if !wildcards { return false }
                        // `>` swallows the rest, so it must be the last token.
                        if byte == Byte.greater && index != count { return false }
                    }
                }
                tokenStart = index + 1
            }
            index += 1
        }
        return true
    }
}

/// Comparing subject filters token by token, for permissions: nats-server grants a
/// subscription when an allowed filter covers it and refuses it when a denied one does.
extension Subject {
    /// Whether the literal `subject` matches `filter`.
    public static func matches(_ filter: [UInt8], _ subject: UnsafeRawBufferPointer) -> Bool {
        filter.withUnsafeBytes { filter in covers(tokens(filter), tokens(subject)) }
    }

    public static func matches(_ filter: [UInt8], _ subject: [UInt8]) -> Bool {
        subject.withUnsafeBytes { matches(filter, $0) }
    }

    /// Whether every subject that `inner` matches is also matched by `outer`.
    public static func covers(_ outer: [UInt8], _ inner: [UInt8]) -> Bool {
        outer.withUnsafeBytes { outer in inner.withUnsafeBytes { inner in covers(tokens(outer), tokens(inner)) } }
    }

    /// Whether some subject is matched by both `a` and `b`.
    public static func overlaps(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { a in
            b.withUnsafeBytes { b in
                let left = tokens(a), right = tokens(b)
                var index = 0
                while index < left.count && index < right.count {
                    let x = left[index], y = right[index]
                    // `>` takes one or more tokens, and the other side has at least this one.
                    if isFullWildcard(x) || isFullWildcard(y) { return true }
                    if !isSingleWildcard(x) && !isSingleWildcard(y) && !x.elementsEqual(y) { return false }
                    index += 1
                }
                return left.count == right.count
            }
        }
    }

    /// An inner subject with an empty token (`a..b`, `.a`) is covered by nothing, as nats-server's
    /// permission lists match nothing for it: an allow list refuses it, a deny list lets it by
    /// (to be refused later as an invalid subject).
    private static func covers(_ outer: [UnsafeRawBufferPointer], _ inner: [UnsafeRawBufferPointer]) -> Bool {
        if inner.contains(where: { $0.isEmpty }) { return false }
        for (index, token) in outer.enumerated() {
            if isFullWildcard(token) { return index < inner.count }
            guard index < inner.count else { return false }
            let other = inner[index]
            if isFullWildcard(other) { return false }
            if isSingleWildcard(token) { continue }
            if isSingleWildcard(other) || !token.elementsEqual(other) { return false }
        }
        return outer.count == inner.count
    }

    private static func tokens(_ bytes: UnsafeRawBufferPointer) -> [UnsafeRawBufferPointer] {
        var result: [UnsafeRawBufferPointer] = []
        var start = 0
        for index in 0...bytes.count where index == bytes.count || bytes[index] == Byte.dot {
            result.append(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            start = index + 1
        }
        return result
    }

    private static func isFullWildcard(_ token: UnsafeRawBufferPointer) -> Bool { token.count == 1 && token[0] == Byte.greater }
    private static func isSingleWildcard(_ token: UnsafeRawBufferPointer) -> Bool { token.count == 1 && token[0] == Byte.star }
}
