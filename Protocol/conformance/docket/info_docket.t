# docketd's INFO: exactly the NATS version it emulates, plus its own
# docket_version field.
! docket-only
a~ INFO \{(?=.*"version":"2\.9\.0")(?=.*"docket_version":"[^"]+").*\} ?
