# HELP (any case) answers with a counted text block describing the verbs:
# HELP <#bytes>\r\n<text>\r\n. The connection stays usable afterwards.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> HELP
a~ HELP [1-9][0-9]*
a! body
a> help
a~ HELP [1-9][0-9]*
a! body
a> HeLp
a~ HELP [1-9][0-9]*
a! body
a> PING
a< PONG
