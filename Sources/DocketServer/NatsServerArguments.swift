/// nats-server reads its command line with Go's flag package, which takes every flag with one
/// dash or two (`-user`, `--user`) and spells several with underscores (`--http_port`). The test
/// harnesses of NATS clients start "nats-server" with such command lines (nats.c's suite passes
/// `-auth secret`, `-config tls.conf`, `-user ivan -pass foo`, `-l server.log`), and so do scripts
/// written for it. docketd takes them as they are: each word is rewritten to the spelling its own
/// parser knows before parsing. Nothing is guessed beyond spelling: a flag docketd does not have
/// (`-js`) stays unknown and is refused by name.
public enum NatsServerArguments {
    /// nats-server's names for docketd's flags, where they are not the same word.
    static let aliases: [String: String] = [
        "net": "addr", "server_name": "name", "http_port": "http-port", "cluster_listen": "cluster", "cluster_name": "cluster-name", "store_dir": "data-dir", "sl": "signal",
    ]

    /// - Parameter shortFlags: the command's one-letter flags. A one-dash word made only of these
    ///   is a group of them (`-DV`), as in nats-server; any other one-dash word longer than one
    ///   letter is a long flag.
    public static func normalize(_ arguments: [String], shortFlags: Set<Character>) -> [String] {
        var result: [String] = []
        result.reserveCapacity(arguments.count)
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let word = arguments[index]
            index += 1
            // After "--" every word is a value, as for any command.
            if word == "--" {
                result.append(word)
                result.append(contentsOf: arguments[index...])
                break
            }
            if word == randomPort, let flag = result.last, portFlags.contains(flag) {
                result.append("0")
                continue
            }
            let spelled = rewrite(word, shortFlags: shortFlags)
            if let flag = portFlags.first(where: { spelled == $0 + "=" + randomPort }) {
                result.append(flag + "=0")
                continue
            }
            result.append(spelled)
        }
        return result
    }

    /// nats-server's "any free port" (`-p -1`, `--http_port -1`, `port: -1` in a file), which is 0
    /// here; the Python client's harness (`nats.server.run(port=0)`) passes it.
    public static let randomPort = "-1"
    /// The flags, in docketd's spelling, whose value is a port.
    static let portFlags: Set<String> = ["-p", "--port", "-m", "--http-port"]

    /// One word in docketd's spelling; a word that is not a flag is returned unchanged.
    static func rewrite(_ word: String, shortFlags: Set<Character>) -> String {
        guard word.hasPrefix("-"), word.count > 2 else { return word }
        let body = word.hasPrefix("--") ? word.dropFirst(2) : word.dropFirst()
        guard let first = body.first, first.isLetter else { return word }  // "-5", "---"
        let name = body.prefix { $0 != "=" }
        let value = body.dropFirst(name.count)  // "" or "=…"
        if !word.hasPrefix("--") && value.isEmpty && name.allSatisfy(shortFlags.contains) {
            // nats-server's -VV and -DVV (trace more verbosely) are -V and -DV here.
            var seen = Set<Character>()
            return "-" + String(name.filter { seen.insert($0).inserted })
        }
        let spelled = aliases[String(name)] ?? String(name.map { $0 == "_" ? "-" : $0 })
        return "--" + spelled + value
    }
}
