# Limits and cursors a client may send beyond any stored value page the same as the largest:
# a DEAD limit of ten digits lists what there is, a LIST cursor past every priority lists
# nothing and one before every priority lists everything (the same on PostgreSQL, whose
# columns are narrower than the wire's numbers).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false}
a> ENQ q 1
a> x
a< +OK 1
a> DEAD q limit=9999999999
a< JSON 2
a< []
a> LIST q after=9223372036854775807.0.0
a~ JSON \d+
a< {"queue":"q","state":"waiting","jobs":[],"next":null}
a> LIST q after=-9223372036854775808.0.0
a~ JSON \d+
a~ \{"queue":"q","state":"waiting","jobs":\[\{"id":1,.*\}\],"next":null\}
a> PING
a< PONG
