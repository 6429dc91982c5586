import Glibc
import Ingest
import Posix

/// Which rule folders and files apply when a command names none, and why.
///
/// One order for `run` and `rules check|test|catalog`, so what `rules check` approves is what the
/// daemon loads: the paths named (`--rules`, or arguments), else the config file's `rules =`
/// entries, else the installed folders (`/usr/share/trailwatch/rules`, `/etc/trailwatch/rules.d`,
/// those present), else the `rules/` folder of the source checkout the binary was built in.
struct RuleSources {
    /// Absolute rule folders or files, in load order (empty: none found).
    var paths: [String]
    /// Where `paths` came from, in words for the start-up log line.
    var origin: String

    /// The package's folders: shipped rules, then the operator's own (a later list overrides).
    static let installed = ["/usr/share/trailwatch/rules", "/etc/trailwatch/rules.d"]

    /// What an operator can do when no rules were found.
    static let hint =
        "name rule folders or files (run --rules DIR, 'rules = DIR' in the config, or rules check DIR), "
        + "install the package (\(installed.joined(separator: ", "))), or use a binary built in a source checkout (its rules/)"

    static func resolve(named: [String], config: [String] = []) -> RuleSources {
        if !named.isEmpty { return RuleSources(paths: named.map(Run.absolute), origin: "as named") }
        if !config.isEmpty { return RuleSources(paths: config.map(Run.absolute), origin: "the config file's rules entries") }
        let present = installed.filter(Posix.isDirectory)
        if !present.isEmpty { return RuleSources(paths: present, origin: "installed; no --rules given") }
        if let checkout = checkoutRules() {
            return RuleSources(paths: [checkout], origin: "the source checkout's rules; no --rules given, none installed")
        }
        return RuleSources(paths: [], origin: "none given, none installed, not a source checkout")
    }

    /// `rules/` of the source checkout holding this binary (`<checkout>/.build/<triple>/<config>/trailwatch`):
    /// the nearest folder above the executable with `Package.swift`, `Sources/trailwatch` and `rules/`.
    static func checkoutRules() -> String? {
        guard var dir = Posix.realPath("/proc/self/exe") else { return nil }
        for _ in 0..<6 {
            guard let slash = dir.lastIndex(of: "/"), slash != dir.startIndex else { return nil }
            dir = String(dir[..<slash])
            if (try? Posix.checkAccess(dir + "/Package.swift", R_OK)) != nil, Posix.isDirectory(dir + "/Sources/trailwatch"),
                Posix.isDirectory(dir + "/rules")
            {
                return dir + "/rules"
            }
        }
        return nil
    }
}
