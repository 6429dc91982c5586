import Glibc
import LogStore
import Logging
import Posix

/// The files being decoded or committed, noted on disk before the work starts, so that a process
/// death (an allocation abort, the OOM killer, `kill -9`) leaves the names of the files in hand.
///
/// One small file per entry under `<state>/in-hand/`, removed once its file is handled; a clean
/// stop leaves none. Written without fsync: the note must outlive the process, not the machine.
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

    package let directory: String

    package init(directory: String) throws {
        self.directory = directory
        try Posix.makeDirectories(directory, mode: 0o700)
    }

    /// Notes `entry` as in hand (before its decoding starts).
    package func take(_ entry: Entry) throws {
        let text = "\(entry.deaths)\n\(entry.account)\n\(entry.path)\n\(entry.ledgerKey)\n"
        try Posix.writeFile(note(entry.ledgerKey), Array(text.utf8), mode: 0o600)
    }

    /// The file is handled (stored, ledgered as failed, or left for later): no longer in hand.
    package func release(_ ledgerKey: String) {
        unlink(note(ledgerKey))
    }

    /// What a previous process left in hand when it died; the notes are removed.
    package func leftovers() -> [Entry] {
        var out: [Entry] = []
        for name in Posix.list(directory) {
            let path = directory + "/" + name
            defer { unlink(path) }
            guard let bytes = try? Posix.readFile(path, regularOnly: true) else { continue }
            let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            guard lines.count >= 4, let deaths = Int(lines[0]) else { continue }
            out.append(Entry(ledgerKey: String(lines[3]), account: String(lines[1]), path: String(lines[2]), deaths: deaths))
        }
        return out.sorted { $0.ledgerKey < $1.ledgerKey }
    }

    /// The note's path: a hash of the ledger key (keys hold slashes).
    func note(_ ledgerKey: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in ledgerKey.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return directory + "/" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension Ingestor {
    /// Notes a file as in hand before decoding; if the note cannot be written (state directory
    /// unwritable) the file is not decoded: a death then could not be traced to it.
    func takeInHand(_ entry: InHand.Entry) -> IngestFailure? {
        do {
            try inHand.take(entry)
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
        for e in inHand.leftovers() where known[e.ledgerKey]?.status != .done {
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
