# A node whose nats-server cluster cannot be reached (--cluster-nats naming a port where nothing
# listens) serves its own clients as usual: pub/sub, queue groups served locally, no_responders
# told; STATS says the link is down and why, and keeps what is published for when it is back
# (held, not yet counted in out_msgs, which counts what went up; pending_bytes: the three
# messages as they will go up, the one to a queue group marked).
! docket-only
! flags: --cluster-nats nats://127.0.0.1:1
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}
b~ INFO \{.*\} ?
b> CONNECT {"verbose":false,"pedantic":false}
b> SUB news 1
b> SUB work workers 2
b> PING
b< PONG
a> PUB news 2
a> hi
a> PUB work 3
a> job
b< MSG news 1 2
b< hi
b< MSG work 2 3
b< job
a> SUB _INBOX.x.* 5
a> PUB svc.none _INBOX.x.1 2
a> hi
a< HMSG _INBOX.x.1 5 16 16
a< NATS/1.0 503
a<
a<
a> STATS
a~ JSON \d+
a~ \{.*"cluster":\{"connected":false,"url":(null|"nats://127\.0\.0\.1:1"),"error":"nats://127\.0\.0\.1:1: .*","reconnects":0,"out_msgs":0,"in_msgs":0,"dropped_msgs":0,"pending_bytes":117,"max_payload":null,"oversized_msgs":0,"subscriptions":3\}\}
