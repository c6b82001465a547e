extension StringProtocol {
    /// The text without the characters of `set` at either end (Foundation's, which this module
    /// does not import, takes a CharacterSet).
    func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
