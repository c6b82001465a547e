@testable import DocketServer
import Testing

@Suite struct NatsServerArgumentsTests {
    private let shortFlags: Set<Character> = ["a", "c", "d", "h", "l", "m", "n", "p", "D", "P", "V"]

    private func normalize(_ words: String...) -> [String] {
        NatsServerArguments.normalize(words, shortFlags: shortFlags)
    }

    @Test func longFlagsWithOneDashGetTwo() {
        // nats.c's test harness, word for word.
        #expect(normalize("-auth", "testSecret", "-p", "8232", "-a", "127.0.0.1", "-l", "server.log")
            == ["--auth", "testSecret", "-p", "8232", "-a", "127.0.0.1", "-l", "server.log"])
        #expect(normalize("-user", "ivan", "-pass", "secret") == ["--user", "ivan", "--pass", "secret"])
        #expect(normalize("-config", "tls.conf") == ["--config", "tls.conf"])
        #expect(normalize("-tls", "-tlscert", "c.pem", "-tlskey", "k.pem", "-tlscacert", "ca.pem", "-tlsverify")
            == ["--tls", "--tlscert", "c.pem", "--tlskey", "k.pem", "--tlscacert", "ca.pem", "--tlsverify"])
    }

    @Test func pidAndPortsFileFlagsInEverySpelling() {
        #expect(normalize("-P", "d.pid", "-pid", "d.pid", "--pid", "d.pid") == ["-P", "d.pid", "--pid", "d.pid", "--pid", "d.pid"])
        #expect(normalize("-ports_file_dir", "/tmp", "--ports_file_dir=/tmp") == ["--ports-file-dir", "/tmp", "--ports-file-dir=/tmp"])
    }

    @Test func groupsOfOneLetterFlagsStayGroups() {
        #expect(normalize("-DV") == ["-DV"])
        #expect(normalize("-VD") == ["-VD"])
        // nats-server's more verbose traces are the trace there is here.
        #expect(normalize("-VV") == ["-V"])
        #expect(normalize("-DVV") == ["-DV"])
        #expect(normalize("-p", "4222") == ["-p", "4222"])
    }

    @Test func underscoresAndNatsServerNamesBecomeDocketdSpellings() {
        #expect(normalize("--http_port", "8222") == ["--http-port", "8222"])
        #expect(normalize("-http_port=8222") == ["--http-port=8222"])
        #expect(normalize("--net", "0.0.0.0", "--server_name", "a") == ["--addr", "0.0.0.0", "--name", "a"])
        #expect(normalize("--max_payload=1MiB") == ["--max-payload=1MiB"])
    }

    @Test func minusOneAsAPortIsAnyFreePort() {
        // nats.py's nats-server package: run(port=0) passes "--port -1".
        #expect(normalize("--port", "-1") == ["--port", "0"])
        #expect(normalize("-p", "-1", "-m", "-1") == ["-p", "0", "-m", "0"])
        #expect(normalize("--port=-1", "-http_port=-1") == ["--port=0", "--http-port=0"])
        // Only as a port: elsewhere "-1" is left to the parser.
        #expect(normalize("--pass", "-1") == ["--pass", "-1"])
        #expect(normalize("-1") == ["-1"])
    }

    @Test func valuesAndUnknownFlagsAreLeftToTheParser() {
        // A value with an equals sign is never rewritten, nor is anything after "--".
        #expect(normalize("--pass=-x_y") == ["--pass=-x_y"])
        #expect(normalize("--", "-auth", "--http_port") == ["--", "-auth", "--http_port"])
        // Negative numbers and lone dashes are values.
        #expect(normalize("--pass", "-5", "-", "--") == ["--pass", "-5", "-", "--"])
        #expect(normalize("-5000") == ["-5000"])
        // nats-server's cluster flags, as nats.py's harness passes them.
        #expect(normalize("-cluster", "nats://127.0.0.1:6222", "-cluster_name", "abc", "--cluster_listen", "x", "--store_dir", "d")
            == ["--cluster", "nats://127.0.0.1:6222", "--cluster-name", "abc", "--cluster", "x", "--data-dir", "d"])
        // A flag docketd lacks stays one it lacks, refused by its name.
        #expect(normalize("-js", "-leafnodes", "x") == ["--js", "--leafnodes", "x"])
    }
}
