# DEAD with an unknown option, an unreadable limit, or limit= given twice
# is BAD_OPTION (an option "repeated" is BAD_OPTION on every verb). limit is
# 1 to 9999999999 (a count of up to 10 digits).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> DEAD q limit=many
a~ -ERR 'BAD_OPTION .*'
a> DEAD q sort=new
a~ -ERR 'BAD_OPTION .*'
a> DEAD q limit=1 limit=2
a~ -ERR 'BAD_OPTION .*'
a> DEAD q limit=0
a~ -ERR 'BAD_OPTION limit=0: .*'
a> DEAD q limit=10000000000
a~ -ERR 'BAD_OPTION limit=10000000000: .*'
a> DEAD q limit=9999999999
a~ JSON \d+
a~ \[\s*\]
a> DEAD q limit=1
a~ JSON \d+
a~ \[\s*\]
