/// The body of the reply to `HELP`: one line per verb with its usage.
enum HelpText {
    static let lines = [
        "CONNECT {json}                          options: verbose, pedantic, echo, headers, no_responders, name",
        "PUB <subject> [reply-to] <#bytes>       publish; the payload follows on the next line",
        "HPUB <subject> [reply-to] <#hdr> <#all> publish with a NATS/1.0 header block before the payload",
        "SUB <subject> [queue-group] <sid>       subscribe; * matches one token, > the rest",
        "UNSUB <sid> [max-msgs]                  unsubscribe now, or after max-msgs messages in all",
        "PING                                    the server answers PONG",
        "PONG                                    answer to the server's PING",
        "ENQ <queue> [opt=value ...] <#bytes>    enqueue a job; opts: delay at pri attempts backoff jitter lease key group",
        "RESERVE <queue>[,<queue>...] [timeout=<d>]  take the next job; waits unless timeout=0",
        "ACK <id> [attempt=<n>] [<#bytes>]       complete a job you hold, with an optional result",
        "FAIL <id> [attempt=<n>] [retry=<d>|retry=no] [<#bytes>]  fail this attempt, with an optional reason",
        "FAIL <id> [attempt=<n>] throttle=<d> [scope=queue|group]  hold the queue (or group); the job goes back, no attempt used",
        "PROGRESS <id> <0-100> [attempt=<n>] [<#bytes>]  report progress and extend the lease",
        "TOUCH <id> [attempt=<n>]                extend the lease; attempt= (from JOB) refuses a stale worker",
        "INSPECT <id>                            show a job as JSON",
        "DEAD <queue> [limit=<n>]                list dead jobs as JSON",
        "RETRY <id> | RETRY queue=<queue>        run dead jobs again",
        "DEL <id>                                delete a job",
        "QUEUE <queue> [setting=value ...]       show or change a queue: rate group_rate concurrency attempts backoff jitter lease keep_completed keep_dead",
        "PAUSE <queue> / RESUME <queue>          stop or restart handing out a queue's jobs",
        "STATS / QUEUES                          server counters / every queue, as JSON",
        "WAIT <id> [timeout=<d>]                 wait for a job's outcome: OUTCOME <id> completed|dead <#bytes>",
        "ROUTE <pattern> <queue> [opt=value ...] turn messages published on matching subjects into jobs",
        "UNROUTE <id> / ROUTES                   remove a route / list routes as JSON",
        "SUB $JOB.<queue>.>                      follow a queue's job events (enqueued started completed dead ...)",
        "HELP                                    this list",
    ]

    static let body: [UInt8] = Array(lines.joined(separator: "\r\n").utf8)
}
