# With --user and --pass, CONNECT carries user and pass.
! docket-only
! flags: --user alice --pass wonder
a~ INFO \{.*"auth_required":true.*\} ?
a> CONNECT {"verbose":false,"pedantic":false,"user":"alice","pass":"wonder"}
a> PING
a< PONG
