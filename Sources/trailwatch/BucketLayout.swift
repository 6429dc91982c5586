import Glibc
import Posix

/// A look at a `--logs` folder before ingesting it, so a mistyped path is named rather than
/// ingested as "0 files, no errors".
enum BucketLayout {
    /// True when an `AWSLogs` folder lies at `root` or anywhere below it (a prefix may have slashes).
    ///
    /// Breadth first, so a real mirror answers within its first few folders; symbolic links are
    /// not followed, and after `budget` folders the answer is yes (a large tree is no empty mistake).
    static func hasAWSLogs(below root: String, budget: Int = 10_000) -> Bool {
        var queue = [root]
        var next = 0
        while next < queue.count {
            let dir = queue[next]
            next += 1
            for (name, type) in Posix.entries(dir) ?? [] {
                let path = dir + "/" + name
                var isDir = type == UInt8(DT_DIR)
                if type == UInt8(DT_UNKNOWN) {
                    isDir = (try? Posix.linkInfo(path)).map { ($0.st_mode & S_IFMT) == S_IFDIR } ?? false
                }
                guard isDir else { continue }
                if name == "AWSLogs" { return true }
                queue.append(path)
                if queue.count > budget { return true }
            }
        }
        return false
    }
}
