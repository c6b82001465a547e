# Numbers are unsigned decimal digits: leading zeros are allowed (a byte
# count, a job id, an attempt, a percentage, an option's count), a sign is
# not: a byte count with one is a line that cannot be read, and closes.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q attempts=007 02
a> hi
a< +OK 1
a> INSPECT 0001
a~ JSON \d+
a~ \{(?=.*"id":1[,}])(?=.*"max_attempts":7[,}])(?=.*"payload_bytes":2[,}]).*\}
a> RESERVE q timeout=0
a~ JOB 1 q 1 lease=\d+ delivery=\d+ 2
a< hi
a> PROGRESS 01 050 attempt=01
a< +OK
a> ACK 00001 attempt=0001
a< +OK
a> INSPECT 1
a~ JSON \d+
a~ \{(?=.*"state":"completed")(?=.*"progress":50[,}]).*\}
a> ENQ q attempts=+1 0
a>
a~ -ERR 'BAD_OPTION attempts=\+1: .*'
a> INSPECT +1
a~ -ERR 'BAD_ID .*'
a> ENQ q +1
a~ -ERR 'Invalid Protocol: .*'
a! eof
