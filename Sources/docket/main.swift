#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// A closed pipe (`docket sub … | head`) or a command that does not read its input must not
// kill the tool: writes report EPIPE instead.
signal(SIGPIPE, SIG_IGN)
DocketCLI.main()
