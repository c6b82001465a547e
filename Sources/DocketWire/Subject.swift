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
