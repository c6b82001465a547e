# A BATCH is all or none even when an ENQ of it dies at once (its parent is
# dead) and retention would then remove that parent before a later ENQ of
# the same batch names it: retention waits for the end of the batch.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> QUEUE d keep_dead=1
a< +OK
a> ENQ d attempts=1 2
a> D1
a< +OK 1
a> RESERVE d timeout=0
a~ JOB 1 d 1 lease=\d+ delivery=\d+ 2
a< D1
a> FAIL 1 retry=no
a< +OK dead
a> BATCH 3
a> ENQ work 9
a> important
a> ENQ d after=1 2
a> c1
a> ENQ d after=1 2
a> c2
a< +OK 2 3 4
a> INSPECT 4
a~ JSON \d+
a~ \{"id":4,"queue":"d","state":"dead",.*\}
a> RESERVE work timeout=0
a~ JOB 2 work 1 lease=\d+ delivery=\d+ 9
a< important
