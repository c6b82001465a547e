import ArgumentParser

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

do {
    var command = try DocketCLI.parseAsRoot()
    do {
        try command.run()
    } catch let error as ValidationError {
        // A value checked while running (a duration, a job id) is as much a usage error as one
        // the parser finds: shown with the command's own usage, not the tool's.
        writeStderr(usageError(error.message, for: type(of: command)))
        exit(ExitCode.validationFailure.rawValue)
    }
} catch {
    DocketCLI.exit(withError: error)
}
