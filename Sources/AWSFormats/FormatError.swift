/// Why a body or file from outside (an AWS response, a shared config file, the metadata service)
/// was refused: its source, what was wrong, and where when a line is known.
package struct AWSFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, for counters and tests.
    package enum Code: String, Sendable {
        /// Over a size or count limit.
        case tooLarge = "too_large"
        /// Not the shape the format demands.
        case malformed
    }

    package var code: Code
    /// The file path or the response it came from (e.g. `ListObjectsV2`).
    package var source: String
    /// 1-based line for files, 0 when not known.
    package var line: Int
    package var reason: String

    package init(_ code: Code, source: String, line: Int = 0, _ reason: String) {
        self.code = code
        self.source = source
        self.line = line
        self.reason = reason
    }

    package var description: String { line > 0 ? "\(source):\(line): \(reason)" : "\(source): \(reason)" }
}
