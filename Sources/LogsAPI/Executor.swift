import Dispatch

/// Runs the server's tasks on a Dispatch queue of their own instead of Swift's cooperative pool
/// (one thread per core): code elsewhere in the process that blocks a pool thread (a test waiting
/// for a child process, say) then cannot hold up requests, and requests cannot starve it.
package final class DispatchTaskExecutor: TaskExecutor, @unchecked Sendable {
    private let queue: DispatchQueue

    /// An executor over a new concurrent queue named `label`.
    package init(label: String) {
        queue = DispatchQueue(label: label, attributes: .concurrent)
    }

    /// Runs `job` on the queue.
    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
