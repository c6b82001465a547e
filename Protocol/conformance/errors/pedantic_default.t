# Like verbose, pedantic starts on, and a CONNECT that does not mention it
# leaves it on (nats-server: CONNECT only overrides the fields it names).
# So a PUB to a wildcard subject here gets -ERR 'Invalid Publish Subject'.
# (Before CONNECT the same -ERR is followed by +OK: see
# pub_invalid_subject_pedantic_verbose.t.)
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false}
a>> PUB foo.* 2\r\nhi\r\n
a< -ERR 'Invalid Publish Subject'
a> PING
a< PONG
