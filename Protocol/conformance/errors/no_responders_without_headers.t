# no_responders needs headers: asking for it without "headers":true is
# fatal.
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"no_responders":true}
a< -ERR 'no responders requires headers support'
a! eof
