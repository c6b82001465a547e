# A CONNECT that does not mention verbose leaves it as it was (on), as
# nats-server does: CONNECT {} is answered with +OK and so is SUB.
a~ INFO \{.*\} ?
a> CONNECT {}
a< +OK
a> SUB foo 1
a< +OK
a> PING
a< PONG
