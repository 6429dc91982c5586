import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Checkpoints an account store's write-ahead log on a background queue, through a connection of
/// its own, instead of in the writing thread.
///
/// SQLite's automatic checkpoint runs in the writer right after a commit: it copies the WAL into
/// the database and waits on two `fdatasync`s, which during a backlog idled the committing thread
/// for about a tenth of its time. Here the writer's WAL hook only asks for a checkpoint, and a
/// background PASSIVE checkpoint (which never blocks the writer) copies the frames, pass after
/// pass until it has caught up with the writer. The WAL starts over from its beginning at the
/// writer's first transaction after a pass that copied every frame. Should the background fall
/// behind until the WAL holds ``Limits/hardLimit`` frames, the writer checkpoints itself, as
/// SQLite would.
package final class WALCheckpointer: Sendable {
    /// When to checkpoint, in WAL frames (one page each: 16 KiB in a store).
    package struct Limits: Sendable {
        /// A background checkpoint is asked for from this size on (SQLite's automatic checkpoint
        /// uses the same: 1000 pages).
        package var threshold: Int32 = 1000
        /// The WAL is never let grow past this by more than a transaction: the writer then
        /// checkpoints whatever is left.
        package var hardLimit: Int32 = 8000
        /// Passes of one background checkpoint at most: each copies what the writer added during
        /// the one before.
        package var passes = 16

        package init() {}
        package init(threshold: Int32, hardLimit: Int32) {
            self.threshold = threshold
            self.hardLimit = hardLimit
        }
    }

    /// What the checkpointer did, for tests and figures.
    package struct Counts: Sendable, Equatable {
        /// Background checkpoints run, and their passes.
        package var background = 0
        package var passes = 0
        /// Background checkpoints that copied every frame there was when they ended.
        package var caughtUp = 0
        /// Checkpoints the writer ran itself at the hard limit.
        package var inline = 0
        /// Background checkpoints that did not run (busy with the writer's own, or failed): the
        /// hard limit takes over.
        package var failed = 0
    }

    private struct State {
        var scheduled = false
        var counts = Counts()
    }

    private let path: String
    package let limits: Limits
    private let state = Mutex(State())
    /// The background connection, opened on first use; touched only on ``queue``.
    private nonisolated(unsafe) var connection: DatabaseQueue? = nil
    /// One queue for every store: checkpoints are disk work, better one after another.
    private static let queue = DispatchQueue(label: "trailwatch.wal-checkpoint", qos: .utility)

    package init(path: String, limits: Limits = Limits()) {
        self.path = path
        self.limits = limits
    }

    package var counts: Counts { state.withLock { $0.counts } }

    /// Returns once the background checkpoints asked for so far have run.
    package func waitForBackground() { Self.queue.sync {} }

    /// Closes the background connection (after the checkpoints asked for so far), so that the
    /// writer's connection is the last one and, closing, copies what is left and removes the WAL.
    package func close() { Self.queue.sync { connection = nil } }

    /// Installs the hook on the writer's connection (replacing SQLite's automatic checkpoint). The
    /// owner of the connection keeps `self` for as long as the connection lives (SQLite calls the
    /// hook only after a commit, never when closing).
    package func install(on connection: OpaquePointer) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_wal_hook(connection, { context, db, _, frames in
            guard let context, let db else { return SQLITE_OK }
            Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(db, frames: frames)
            return SQLITE_OK
        }, context)
    }

    /// Called by the writer after each commit with the frames now in the WAL.
    func committed(_ writer: OpaquePointer, frames: Int32) {
        guard frames >= limits.threshold else { return }
        let inline = frames >= limits.hardLimit
        let schedule = state.withLock { s -> Bool in
            if inline { s.counts.inline += 1 }
            guard !s.scheduled, !inline else { return false }
            s.scheduled = true
            return true
        }
        if schedule { Self.queue.async { self.runInBackground() } }
        if inline {
            // Copies what is left (PASSIVE: a background pass running now makes this one a no-op);
            // the writer's next transaction then starts the WAL over.
            var log: Int32 = 0
            var copied: Int32 = 0
            _ = sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &copied)
        }
    }

    private func runInBackground() {
        var passes = 0
        var caughtUp = false
        var failed = false
        do {
            if connection == nil { connection = try DatabaseQueue(path: path) }
            var before = -1
            while passes < limits.passes, let connection {
                let (log, copied) = try connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                passes += 1
                caughtUp = log >= 0 && copied == log
                // Done when nothing is left, or when a reader's older snapshot holds the rest back.
                if caughtUp || copied <= before { break }
                before = copied
            }
        } catch {
            failed = true
        }
        state.withLock { s in
            s.scheduled = false
            s.counts.background += 1
            s.counts.passes += passes
            if caughtUp { s.counts.caughtUp += 1 }
            if failed { s.counts.failed += 1 }
        }
    }
}
