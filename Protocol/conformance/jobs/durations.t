# Durations are written 250ms, 30s, 5m, 2h, 1d, or a bare number of
# seconds; INSPECT's lease_ms shows how each was read.
! docket-only
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> ENQ q lease=250ms 0
a>
a< +OK 1
a> ENQ q lease=30s 0
a>
a< +OK 2
a> ENQ q lease=5m 0
a>
a< +OK 3
a> ENQ q lease=2h 0
a>
a< +OK 4
a> ENQ q lease=1d 0
a>
a< +OK 5
a> ENQ q lease=7 0
a>
a< +OK 6
a> INSPECT 1
a~ JSON \d+
a~ \{.*"lease_ms":250[,}].*\}
a> INSPECT 2
a~ JSON \d+
a~ \{.*"lease_ms":30000[,}].*\}
a> INSPECT 3
a~ JSON \d+
a~ \{.*"lease_ms":300000[,}].*\}
a> INSPECT 4
a~ JSON \d+
a~ \{.*"lease_ms":7200000[,}].*\}
a> INSPECT 5
a~ JSON \d+
a~ \{.*"lease_ms":86400000[,}].*\}
a> INSPECT 6
a~ JSON \d+
a~ \{.*"lease_ms":7000[,}].*\}
