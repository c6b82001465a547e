# A request (PUB with reply-to) to a subject nobody subscribes to, from a
# connection that negotiated headers and no_responders, is answered with a
# 503 status HMSG on its reply subscription.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}
a> SUB _INBOX.abc.* 5
a> PUB svc.none _INBOX.abc.1 2
a> hi
a< HMSG _INBOX.abc.1 5 16 16
a< NATS/1.0 503
a<
a<
a> PING
a< PONG
