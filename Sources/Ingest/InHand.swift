import Glibc
import LogStore
import Logging
import Posix

/// The files being decoded or committed, noted on disk before the work starts, so that a process
/// death (an allocation abort, the OOM killer, `kill -9`) leaves the names of the files in hand.
///
/// One slot file per decoding thread and one for the committer under `<state>/in-hand/` (which
/// notes every file of a group it commits in one transaction), each
/// rewritten in place (`pwrite`, `ftruncate`: no file created per log file), cut to one byte
/// (no entry) once its work is done, and emptied when a batch of files is done; a clean stop
/// leaves them empty. No fsync: a note must outlive the process, not
/// the machine.
package final class InHand: Sendable {
    /// A file in hand.
    package struct Entry: Sendable, Equatable {
        package var ledgerKey: String
        package var account: String
        /// The path read (to find its size and mtime when it is quarantined).
        package var path: String
        /// Process deaths already seen with this file in hand, before this attempt.
        package var deaths: Int

        package init(ledgerKey: String, account: String, path: String, deaths: Int) {
            self.ledgerKey = ledgerKey
            self.account = account
            self.path = path
            self.deaths = deaths
        }
    }

    /// One thread's note: holds at most one entry.
    package final class Slot: Sendable {
        /// The open note, or why it could not be opened (reported by `hold`).
        let file: Result<Int32, PosixError>
        let path: String

        init(path: String) {
            self.path = path
            file = Result { () throws(PosixError) in try Posix.openFile(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode: 0o600) }
        }

        deinit { if case .success(let fd) = file { Posix.closeFile(fd) } }

        /// Notes `entry` as in hand (before its work starts).
        package func hold(_ entry: Entry) throws { try hold([entry]) }

        /// Notes `entries` as in hand together (the files of one group commit): four lines each.
        package func hold(_ entries: [Entry]) throws {
            let bytes = Array(entries.map { "\($0.deaths)\n\($0.account)\n\($0.path)\n\($0.ledgerKey)\n" }.joined().utf8)
            let fd = try file.get()
            try Posix.writeAll(fd, bytes, at: 0, path: path)
            try Posix.truncate(fd, to: bytes.count, path: path)
        }

        /// The work is done: nothing in hand.
        package func clear() { if case .success(let fd) = file { try? Posix.truncate(fd, to: 0, path: path) } }

        /// One file's work is done and more may follow: the note is cut to its first byte, which is
        /// no entry (``InHand/leftovers()`` needs four lines). Cheaper than ``clear()`` between
        /// files: ext4 writes out a file's pending data when it is truncated to zero, not otherwise.
        package func release() { if case .success(let fd) = file { try? Posix.truncate(fd, to: 1, path: path) } }
    }

    package let directory: String

    package init(directory: String) throws {
        self.directory = directory
        try Posix.makeDirectories(directory, mode: 0o700)
    }

    /// The slot named `name` (a thread's), created empty if new.
    package func slot(_ name: String) -> Slot { Slot(path: directory + "/" + name) }

    /// What a previous process left in hand when it died; the notes are removed.
    package func leftovers() -> [Entry] {
        var out: [String: Entry] = [:]
        for name in Posix.list(directory) {
            let path = directory + "/" + name
            defer { try? Posix.removeFile(path) }
            guard let bytes = try? Posix.readFile(path, regularOnly: true) else { continue }
            let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            // Four lines an entry; a note may hold several (a group committed together).
            var at = 0
            while lines.count - at >= 4, let deaths = Int(lines[at]) {
                let e = Entry(ledgerKey: String(lines[at + 3]), account: String(lines[at + 1]), path: String(lines[at + 2]), deaths: deaths)
                if (out[e.ledgerKey]?.deaths ?? -1) < deaths { out[e.ledgerKey] = e }
                at += 4
            }
        }
        return out.values.sorted { $0.ledgerKey < $1.ledgerKey }
    }
}

extension Pipeline {
    /// Notes a file as in hand before decoding; if the note cannot be written (state directory
    /// unwritable) the file is not decoded: a death then could not be traced to it.
    static func takeInHand(_ slot: InHand.Slot, _ entry: InHand.Entry) -> IngestFailure? { takeInHand(slot, [entry]) }

    /// Notes several files as in hand together (a group the committer commits in one transaction).
    static func takeInHand(_ slot: InHand.Slot, _ entries: [InHand.Entry]) -> IngestFailure? {
        do {
            try slot.hold(entries)
            return nil
        } catch {
            return IngestFailure(.storeError, "cannot note the file as in hand: \(error)")
        }
    }

    /// At start: files a dead process had in hand. Once is no proof (`kill -9`, a power cut, the
    /// OOM killer for another cause): such a file is retried first, alone. In hand at a second
    /// death, it is quarantined: ledgered as failed (`crashed`), logged and counted, and skipped
    /// like any failed file until it changes (`touch` releases it).
    func recoverInHand() {
        for e in inHand.leftovers() where watcher.known[e.ledgerKey]?.status != .done {
            let deaths = e.deaths + 1
            guard deaths >= 2 else {
                suspects[e.ledgerKey] = deaths
                logger.warning(
                    "\(e.path): trailwatch stopped abnormally while this file was in hand; it is retried first, on its own, and quarantined if that happens again",
                    metadata: ["file": "\(e.path)", "reason": "in_hand_at_crash"])
                continue
            }
            let failure = IngestFailure(
                .crashed, "trailwatch died \(deaths) times while this file was in hand (abort or kill); quarantined, touch the file to retry it")
            ledgerFailure(e.ledgerKey, account: e.account, path: e.path, readPath: e.path, failure)
        }
    }
}
