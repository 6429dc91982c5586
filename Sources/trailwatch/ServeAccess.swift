import APIAuth
import Access
import ArgumentParser
import Logging
import Posix
import Systemd
import UnixSignals

/// `serve`'s authentication: the access file loaded at start and again on SIGHUP, behind the
/// SigV4 authenticator the server calls for every request.
enum ServeAccess {
    /// The access file at start: a missing file is no principals (every request refused, with a
    /// warning saying how to add one), an unsafe or broken one stops the start.
    static func load(_ path: String, logger: Logger) throws -> AccessFile {
        do {
            let file = try AccessStore.load(path)
            logger.info("access file \(path): \(file.principals.count) principals", metadata: ["file": "\(path)"])
            return file
        } catch where Posix.status(path) == nil && !Posix.isSymbolicLink(path) {
            logger.warning(
                "no access file at \(path): every API request is refused until 'trailwatch access add NAME --accounts …' creates it and trailwatch is reloaded",
                metadata: ["file": "\(path)"])
            return try AccessFile.parse("", path: path)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Re-reads the access file on every SIGHUP (`systemctl reload`) and puts it in force; a file
    /// that cannot be used is logged and the one in force stays. Returns when cancelled.
    static func reloadOnHangup(_ hangups: UnixSignalsSequence, path: String, authenticator: AccessAuthenticator, logger: Logger) async {
        for await _ in hangups {
            SystemdNotify.reloading()
            do {
                let file: AccessFile
                if Posix.status(path) == nil && !Posix.isSymbolicLink(path) {
                    file = try AccessFile.parse("", path: path)
                } else {
                    file = try AccessStore.load(path)
                }
                authenticator.replace(file)
                logger.info("access file reloaded (SIGHUP): \(file.principals.count) principals", metadata: ["file": "\(path)"])
            } catch {
                logger.error("access file not reloaded, the one in force stays: \(error)", metadata: ["file": "\(path)"])
            }
            SystemdNotify.send("READY=1")
        }
    }
}
