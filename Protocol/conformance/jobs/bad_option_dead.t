# DEAD with an unknown option, an unreadable limit, or limit= given twice
# is BAD_OPTION (an option "repeated" is BAD_OPTION on every verb).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> DEAD q limit=many
a~ -ERR 'BAD_OPTION .*'
a> DEAD q sort=new
a~ -ERR 'BAD_OPTION .*'
a> DEAD q limit=1 limit=2
a~ -ERR 'BAD_OPTION .*'
a> DEAD q limit=1
a~ JSON \d+
a~ \[\s*\]
