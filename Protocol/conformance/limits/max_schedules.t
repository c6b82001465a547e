# --max-schedules bounds how many schedules may exist: one more is refused with LIMIT, while
# replacing or removing one always works.
! docket-only
! flags: --max-schedules 2
a~ INFO \{.*\} ?
a> CONNECT {"verbose":false,"pedantic":false}
a> SCHEDULE one q every=1h 0
a>
a< +OK
a> SCHEDULE two q every=1h 0
a>
a< +OK
a> SCHEDULE three q every=1h 0
a>
a< -ERR 'LIMIT there are 2 schedules already (--max-schedules)'
a> SCHEDULE two q every=2h 0
a>
a< +OK
a> UNSCHEDULE one
a< +OK
a> SCHEDULE three q every=1h 0
a>
a< +OK
