import Glibc
import Posix

/// A file found under a bucket root.
package struct FoundFile: Sendable, Hashable {
    /// The bucket's root folder (absolute).
    package var root: String
    /// Path relative to the root, `/`-separated.
    package var relative: String
    /// True when the entry is a symbolic link (checked against the root before reading).
    package var isSymlink: Bool

    package var absolute: String { root + "/" + relative }
}

/// Walks a bucket mirror and lists its files; directories that are symlinks are not followed.
package enum Scanner {
    /// Every file under `root`, or under `root/sub` when given. Calls `onDirectory` for each directory (relative path).
    package static func walk(root: String, sub: String = "", onDirectory: (String) -> Void = { _ in }) -> [FoundFile] {
        var out: [FoundFile] = []
        var stack = [sub]
        while let rel = stack.popLast() {
            onDirectory(rel)
            let dirPath = rel.isEmpty ? root : root + "/" + rel
            for (name, entryType) in Posix.entries(dirPath) ?? [] {
                let childRel = rel.isEmpty ? name : rel + "/" + name
                var type = entryType
                if type == UInt8(DT_UNKNOWN) {
                    if let st = try? Posix.linkInfo(root + "/" + childRel) {
                        switch st.st_mode & S_IFMT {
                        case S_IFDIR: type = UInt8(DT_DIR)
                        case S_IFLNK: type = UInt8(DT_LNK)
                        default: type = UInt8(DT_REG)
                        }
                    }
                }
                switch type {
                case UInt8(DT_DIR): stack.append(childRel)
                case UInt8(DT_LNK): out.append(FoundFile(root: root, relative: childRel, isSymlink: true))
                default: out.append(FoundFile(root: root, relative: childRel, isSymlink: false))
                }
            }
        }
        return out
    }

    /// The canonical absolute path of `path`, or nil if it does not resolve.
    package static func realPath(_ path: String) -> String? { Posix.realPath(path) }

    /// True when `path` (canonical) lies inside `root` (canonical).
    package static func isInside(_ path: String, root: String) -> Bool {
        path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }
}
