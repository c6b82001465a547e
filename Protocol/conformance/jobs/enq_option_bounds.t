# The extreme values ENQ accepts: pri -1000000 and 1000000, attempts 1 and
# 1000, jitter 0 and 1, a key of 200 bytes, and every option at once.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q pri=-1000000 attempts=1 jitter=0 0
a>
a< +OK 1
a> ENQ q pri=1000000 attempts=1000 jitter=1 0
a>
a< +OK 2
a> ENQ q key=kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk 0
a>
a< +OK 3
a> ENQ q delay=1s pri=7 attempts=4 backoff=exp:1s:1m jitter=0.25 lease=10s key=all 0
a>
a< +OK 4
a> ENQ q at=1 backoff=fixed:5s 0
a>
a< +OK 5
a> INSPECT 2
a~ JSON \d+
a~ \{(?=.*"priority":1000000[,}])(?=.*"max_attempts":1000[,}]).*\}
a> INSPECT 3
a~ JSON \d+
a~ \{.*"key":"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk".*\}
a> INSPECT 4
a~ JSON \d+
a~ \{(?=.*"state":"delayed")(?=.*"priority":7[,}])(?=.*"max_attempts":4[,}])(?=.*"lease_ms":10000[,}])(?=.*"key":"all").*\}
