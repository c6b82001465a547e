# ACK completes a job the connection holds: +OK, with or without a result.
# INSPECT then shows it completed, with the result as text (or null).
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q 1
a> x
a< +OK 1
a> ENQ q 1
a> y
a< +OK 2
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 1
a< x
a> ACK 1
a< +OK
a> RESERVE q timeout=0
a~ JOB 2 q 1 lease=\d+ delivery=\d+ 1
a< y
a> ACK 2 4
a> done
a< +OK
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"id":1[,}])(?=.*"state":"completed")(?=.*"result":null)(?=.*"finished_at":\d+[,}]).*\}
a> INSPECT 2
a~ JSON \d+
a~ \{(?=.*"id":2[,}])(?=.*"state":"completed")(?=.*"result":"done")(?=.*"attempts":1[,}]).*\}
# A completed job is never handed out again.
a> RESERVE q timeout=0
a< NOJOB
