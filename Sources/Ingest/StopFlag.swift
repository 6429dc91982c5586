import Synchronization

/// A request to stop, shared by the thread running the ingest (which checks it between files), the
/// decoder threads (between claims), and whoever asks for the stop (a signal, a fatal store error).
final class StopFlag: Sendable {
    private let value = Mutex(false)

    var isSet: Bool { value.withLock { $0 } }

    func set() { value.withLock { $0 = true } }
}
