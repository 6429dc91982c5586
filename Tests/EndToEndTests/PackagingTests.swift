import Foundation
import Glibc
import Systemd
import Testing
import TestSupport

let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

/// The .deb the packaging tests check.
struct DebUnderTest {
    let path: String
    /// Built by packaging/build-deb.sh around the release binary (Swift runtime linked in, full RELRO).
    let isRelease: Bool
}

/// The release package: `$TRAILWATCH_DEB`, else the one `.ci/run` builds into .build/deb before
/// `swift test`, if it is newer than everything it packages (a stale one would test old files).
func releaseDeb() -> String? {
    if let env = ProcessInfo.processInfo.environment["TRAILWATCH_DEB"], !env.isEmpty { return env }
    let fm = FileManager.default
    let dir = repoRoot.appendingPathComponent(".build/deb").path
    guard let deb = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter({ $0.hasSuffix(".deb") }).sorted().last.map({ dir + "/" + $0 }),
          let built = (try? fm.attributesOfItem(atPath: deb))?[.modificationDate] as? Date else { return nil }
    for input in ["packaging", "systemd", "rules", "docs", "README.md"] {
        let base = repoRoot.appendingPathComponent(input).path
        let files = (fm.enumerator(atPath: base)?.allObjects as? [String] ?? []).map { base + "/" + $0 } + [base]
        for f in files {
            if let m = (try? fm.attributesOfItem(atPath: f))?[.modificationDate] as? Date, m > built { return nil }
        }
    }
    return deb
}

/// Built once per test run: the release package if there is one; in CI its absence is a failure
/// (`.ci/run` builds it); locally the same packaging around the debug binary (the layout, scripts
/// and unit are the same, only the binary differs; lintian needs the release package).
let debUnderTest: Result<DebUnderTest, EmulationError> = {
    if let deb = releaseDeb() { return .success(DebUnderTest(path: deb, isRelease: true)) }
    if isCI {
        return .failure(EmulationError(message: "no release .deb: .ci/run builds it with packaging/build-deb.sh before swift test (or set TRAILWATCH_DEB)"))
    }
    let p = Process()
    p.executableURL = repoRoot.appendingPathComponent("packaging/build-deb.sh")
    p.arguments = [trailwatchBinary, tempDir("deb")]
    var env = ProcessInfo.processInfo.environment
    env["DEB_COMPRESSION"] = "gzip"  // a debug binary is large; xz takes minutes
    p.environment = env
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return .failure(EmulationError(message: "build-deb.sh: \(error)")) }
    let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0, let path = printed.split(separator: "\n").last.map(String.init) else {
        return .failure(EmulationError(message: "build-deb.sh failed (\(p.terminationStatus)): \(printed)"))
    }
    return .success(DebUnderTest(path: path, isRelease: false))
}()

/// Installs a .deb into an empty root as dpkg installs it on this machine: the root starts with this
/// machine's user database (so the postinst's systemd-sysusers picks ids free here), and the
/// maintainer scripts run from here with DPKG_ROOT set (--force-script-chrootless). Dependencies are
/// checked against this machine's packages by `unmetDependencies` (the empty root has none).
func installIntoRoot(_ deb: String) throws -> String {
    let root = tempDir("root")
    let fm = FileManager.default
    for d in ["/etc", "/var/lib/dpkg/info", "/var/lib/dpkg/updates"] {
        try fm.createDirectory(atPath: root + d, withIntermediateDirectories: true)
    }
    _ = fm.createFile(atPath: root + "/var/lib/dpkg/status", contents: nil)
    // Merged /usr as here (/lib -> usr/lib, ...): dpkg then unpacks ./lib/systemd/system through the
    // link, as on this machine, instead of replacing a dangling link with a directory.
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        guard let target = try? fm.destinationOfSymbolicLink(atPath: "/" + top) else { continue }
        try fm.createDirectory(atPath: root + "/" + target, withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: root + "/" + top, withDestinationPath: target)
    }
    for f in ["passwd", "group", "shadow", "gshadow"] where fm.fileExists(atPath: "/etc/" + f) {
        #expect(try runCommand(["cp", "-p", "/etc/" + f, root + "/etc/" + f]).0 == 0)
    }
    let (status, out) = try runCommand(["dpkg", "--root=" + root, "--force-script-chrootless", "--force-depends", "-i", deb])
    #expect(status == 0, "dpkg -i: \(out)")
    return root
}

/// The Depends clauses of a .deb that no package installed here satisfies.
func unmetDependencies(_ deb: String) throws -> [String] {
    let depends = try runCommand(["dpkg-deb", "-f", deb, "Depends"]).1.trimmingCharacters(in: .whitespacesAndNewlines)
    return try depends.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { clause in
        try !clause.split(separator: "|").contains { alternative in
            let parts = alternative.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1).map(String.init)
            let (s, version) = try runCommand(["dpkg-query", "-W", "-f", "${Version}", parts[0]])
            guard s == 0, !version.isEmpty else { return false }
            guard parts.count == 2 else { return true }
            let relation = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: " ").map(String.init)
            let op = ["=": "eq", ">=": "ge", "<=": "le", ">>": "gt", "<<": "lt"][relation[0]] ?? relation[0]
            return try runCommand(["dpkg", "--compare-versions", version, op, relation[1]]).0 == 0
        }
    }
}

/// Owner, group and permission bits of a path.
func ownership(_ path: String) -> (uid: UInt32, gid: UInt32, mode: Int)? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return (st.st_uid, st.st_gid, Int(st.st_mode) & 0o7777)
}

@Suite(.serialized) struct PackagingTests {
    @Test func theDebianPackageHoldsWhatAnOperatorNeeds() throws {
        let deb = try debUnderTest.get().path
        let (_, contents) = try runCommand(["dpkg-deb", "-c", deb])
        for path in [
            "./usr/bin/trailwatch", "./lib/systemd/system/trailwatch.service", "./etc/trailwatch/trailwatch.conf",
            "./usr/lib/sysusers.d/trailwatch.conf",
            "./usr/share/trailwatch/rules/cloudtrail.rules", "./usr/share/trailwatch/rules/cis.rules",
            "./usr/share/trailwatch/rules/known-networks.list", "./usr/share/trailwatch/rules/fixtures/root-console-login.json",
            "./usr/lib/systemd/catalog/trailwatch.catalog", "./usr/share/doc/trailwatch/rules.md",
            "./usr/share/doc/trailwatch/copyright", "./usr/share/doc/trailwatch/changelog.gz",
            "./usr/share/man/man8/trailwatch.8.gz", "./usr/share/man/man5/trailwatch.rules.5.gz",
            "./usr/share/bash-completion/completions/trailwatch", "./usr/share/zsh/vendor-completions/_trailwatch",
            "./usr/share/fish/vendor_completions.d/trailwatch.fish",
        ] {
            #expect(contents.contains(path), "\(path) missing from the package")
        }
        let (_, control) = try runCommand(["dpkg-deb", "-f", deb, "Package", "Version", "Depends", "Maintainer"])
        #expect(control.contains("Package: trailwatch") && control.contains("Version: 0.1.0") && control.contains("libsystemd0"))
        #expect(control.contains("Maintainer: trailwatch maintainers <maintainers@trailwatch.dev>"))
        #expect(try unmetDependencies(deb) == [], "Depends names packages this Debian machine does not have")
        // The shipped rules pass their tests where the package puts them (fixtures resolve beside them).
        let unpacked = tempDir("unpacked")
        #expect(try runCommand(["dpkg-deb", "-x", deb, unpacked]).0 == 0)
        let t = try trailwatch(["rules", "test", unpacked + "/usr/share/trailwatch/rules"])
        let inCheckout = try trailwatch(["rules", "test", repoRoot.path + "/rules"])
        let summary = inCheckout.out.split(separator: "\n").last.map(String.init) ?? ""
        #expect(inCheckout.status == 0 && summary.hasSuffix("passed, 0 failed"), "the checkout's rules pass: \(inCheckout.out.suffix(300))")
        #expect(t.status == 0 && t.out.contains(summary), "the packaged rules pass as many tests as the checkout's (\(summary)): \(t.out.suffix(300))")
        let conf = try String(contentsOfFile: unpacked + "/etc/trailwatch/trailwatch.conf", encoding: .utf8)
        #expect(conf.contains("rules = /usr/share/trailwatch/rules") && conf.contains("state = /var/lib/trailwatch"))
        let (_, conffiles) = try runCommand(["dpkg-deb", "-I", deb, "conffiles"])
        #expect(conffiles.contains("/etc/trailwatch/trailwatch.conf"))
    }

    /// The service user must be able to read the config (a unit that ran as a DynamicUser beside a
    /// root:root 0640 config once could not). Installs the package into a root as dpkg does here (postinst included), then starts
    /// the unit's ExecStart as systemd would (its user, groups, directories, environment, sandbox; see
    /// ServiceEmulation) over a simulated bucket at the config's `logs =` path, and checks it read the
    /// config, stored every event, and delivered the same alerts as a reference run, to the JSON-lines
    /// file in its LogsDirectory and to journald under its own uid.
    @Test func theInstalledUnitRunsAsItsServiceUser() throws {
        try #require(Journal.available, "journald is not running (its socket refuses connections): start it, as scripts/setup-debian.sh does")
        let deb = try debUnderTest.get()
        let root = try installIntoRoot(deb.path)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let svc = try ServiceEmulation(root: root, unitPath: "/lib/systemd/system/trailwatch.service")
        #expect(svc.uid != 0 && svc.gid != 0, "the service must not run as root")
        #expect(svc.unit.value("User") == "trailwatch" && !svc.unit.isOn("DynamicUser"))
        let user = userDB(root + "/etc/passwd").first { $0.name == "trailwatch" }
        #expect(user.map { $0.id < 1000 && $0.fields[6] == "/usr/sbin/nologin" } == true, "want a system user without a shell: \(user?.fields ?? [])")
        let config = root + "/etc/trailwatch/trailwatch.conf"
        let owner = try #require(ownership(config))
        #expect(owner.uid == 0 && owner.gid == svc.gid && owner.mode == 0o640, "config is \(owner), want root:trailwatch 0640")
        let overrides = (try? String(contentsOfFile: root + "/var/lib/dpkg/statoverride", encoding: .utf8)) ?? ""
        #expect(overrides.contains("root #\(svc.gid) 640 /etc/trailwatch/trailwatch.conf"), "the mode survives upgrades through dpkg-statoverride: \(overrides)")

        // The operator's steps: the mirror where the shipped config says, the JSON-lines sink switched on.
        var conf = try String(contentsOfFile: config, encoding: .utf8)
        let logsLine = try #require(conf.split(separator: "\n").first { $0.hasPrefix("logs = ") }, "the config names no mirror")
        let mirror = String(logsLine.dropFirst("logs = ".count))
        let jsonlLine = "# alerts = jsonl:/var/log/trailwatch/alerts.jsonl"
        #expect(conf.contains(jsonlLine))
        conf = conf.replacingOccurrences(of: jsonlLine, with: String(jsonlLine.dropFirst(2)))
        try conf.write(toFile: config, atomically: false, encoding: .utf8)
        let sim = try trailwatch(["simulate", "--out", root + mirror, "--hours", "1", "--rate", "20", "--no-digests"])
        #expect(sim.status == 0, "\(sim.err)")

        // What the same bucket and the same (installed) rules give, run directly.
        let refState = tempDir("ref-state"), refAlerts = tempDir("ref") + "/alerts.jsonl"
        let ref = try trailwatch(["run", "--once", "--logs", root + mirror, "--state", refState, "--alerts", "jsonl:" + refAlerts,
                                  "--rules", root + "/usr/share/trailwatch/rules", "--rules", root + "/etc/trailwatch/rules.d"])
        #expect(ref.status == 0, "\(ref.err)")
        let refIDs = Set(jsonLines(refAlerts).compactMap { $0["alert_id"] as? String })
        #expect(!refIDs.isEmpty, "the simulated bucket must raise alerts for this test to mean anything")

        let notify = try NotifySocket()
        let journalStart = try journalCursor()
        let service = try svc.start(notifySocket: notify.path, hideToolchain: deb.isRelease)
        defer { if service.process.isRunning { service.signal(SIGKILL) } }
        var got: [String] = []
        let startDeadline = Date().addingTimeInterval(120)
        while !got.contains(where: { $0.contains("READY=1") }) && service.process.isRunning && Date() < startDeadline {
            got += notify.collect(timeout: 0.5) { $0.contains("READY=1") }
        }
        let ready = got.first { $0.contains("READY=1") }
        #expect(ready != nil, "no READY=1: \(got)\nstderr: \(service.stderr)")
        let files = try #require(ref.out.split(separator: " ").dropFirst().first, "reference summary: \(ref.out)")
        #expect(ready?.contains("STATUS=\(files) files") == true, "READY comes after the start-up scan of the mirror: \(got)")
        // ExecReload= sends SIGHUP: rules re-read, READY again.
        #expect(svc.unit.value("ExecReload") == "/bin/kill -HUP $MAINPID")
        service.signal(SIGHUP)
        got = service.process.isRunning ? notify.collect(timeout: 30) { $0 == "READY=1" } : []
        #expect(got.contains { $0.hasPrefix("RELOADING=1") } && got.last == "READY=1", "\(got)")
        // Stop as systemd does: KillSignal=, within TimeoutStopSec=.
        #expect(svc.unit.value("KillSignal") == "SIGTERM" && svc.unit.value("TimeoutStopSec") == "90s")
        service.signal(SIGTERM)
        #expect(service.wait(timeout: 90) == 0, "stderr: \(service.stderr)")
        #expect(!service.stderr.contains("Permission denied"), "\(service.stderr)")

        // The store: every event, in the state directory the unit gives, owned by the service.
        let state = root + "/var/lib/trailwatch"
        let stateOwner = try #require(ownership(state))
        #expect(stateOwner.uid == svc.uid && stateOwner.mode == 0o750)
        let status = try trailwatch(["status", "--state", state]), refStatus = try trailwatch(["status", "--state", refState])
        #expect(status.out == refStatus.out && status.out.split(separator: "\n").count > 1, "service:\n\(status.out)\nreference:\n\(refStatus.out)")
        // The alerts: the same ones, in the LogsDirectory (private to the service: UMask=0077) and in journald.
        let alertsFile = root + "/var/log/trailwatch/alerts.jsonl"
        let fileOwner = try #require(ownership(alertsFile), "no alerts file")
        #expect(fileOwner.uid == svc.uid && fileOwner.mode == 0o600)
        let ids = Set(jsonLines(alertsFile).compactMap { $0["alert_id"] as? String })
        #expect(ids == refIDs)
        let pid = service.process.processIdentifier
        var inJournal: [[String: Any]] = []
        _ = eventually(timeout: 10) {
            inJournal = journal("_PID=\(pid)", after: journalStart).filter { $0["TRAILWATCH_ALERT_ID"] != nil }
            return inJournal.count >= refIDs.count
        }
        #expect(Set(inJournal.compactMap { $0["TRAILWATCH_ALERT_ID"] as? String }) == refIDs)
        #expect(inJournal.allSatisfy { $0["_UID"] as? String == String(svc.uid) })
    }

    @Test(.enabled("lintian checks the release package; in CI it is always there (.ci/run builds it)") { isCI || releaseDeb() != nil })
    func lintianFindsNoErrorsOrWarnings() throws {
        let deb = try debUnderTest.get()
        #expect(deb.isRelease)
        let (status, out) = try runCommand(["lintian", "--fail-on", "error,warning", "--no-tag-display-limit", deb.path])
        #expect(status == 0, "\(out)")
        #expect(!out.split(separator: "\n").contains { $0.hasPrefix("E:") || $0.hasPrefix("W:") }, "\(out)")
    }

    @Test func manualPagesRenderCleanlyAndCoverTheCommands() throws {
        let man = repoRoot.appendingPathComponent("packaging/man").path
        for page in ["trailwatch.8", "trailwatch.rules.5"] {
            // What lintian runs: any troff warning is a finding.
            let (_, warnings) = try runCommand(["sh", "-c", "LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z \(man)/\(page) 2>&1 >/dev/null"])
            #expect(warnings.isEmpty, "\(page): \(warnings)")
            let (s, whatis) = try runCommand(["lexgrog", "\(man)/\(page)"])
            #expect(s == 0 && whatis.contains(" - "), "\(page): \(whatis)")
        }
        // Every command and every option the binary knows appears in trailwatch(8).
        let text = try runCommand(["sh", "-c", "MANWIDTH=200 man -l \(man)/trailwatch.8 2>/dev/null"]).1
        let dump = try trailwatch(["--experimental-dump-help"])
        let help = try #require(try JSONSerialization.jsonObject(with: Data(dump.out.utf8)) as? [String: Any])
        func walk(_ command: [String: Any], _ path: [String]) {
            if path.count > 1, path.last != "help" { #expect(text.contains(path.joined(separator: " ")) || text.contains(path.last!), "\(path)") }
            for argument in command["arguments"] as? [[String: Any]] ?? [] {
                for name in argument["names"] as? [[String: Any]] ?? [] where name["kind"] as? String == "long" {
                    let option = "--" + (name["name"] as? String ?? "")
                    #expect(text.contains(option), "trailwatch(8) does not document \(path.joined(separator: " ")) \(option)")
                }
            }
            for sub in command["subcommands"] as? [[String: Any]] ?? [] { walk(sub, path + [sub["commandName"] as? String ?? "?"]) }
        }
        walk(try #require(help["command"] as? [String: Any]), ["trailwatch"])
        // The rule examples in trailwatch.rules(5) are valid rules whose tests pass.
        let rules5 = try runCommand(["sh", "-c", "MANWIDTH=200 man -l \(man)/trailwatch.rules.5 2>/dev/null"]).1
        let lines = rules5.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0 == "EXAMPLES" }), end = try #require(lines.firstIndex { $0 == "FILES" })
        let examples = tempDir("man-examples") + "/examples.rules"
        try lines[(start + 1)..<end].map { $0.hasPrefix("       ") ? String($0.dropFirst(7)) : String($0) }.joined(separator: "\n")
            .write(toFile: examples, atomically: true, encoding: .utf8)
        let check = try trailwatch(["rules", "check", examples]), test = try trailwatch(["rules", "test", examples])
        #expect(check.status == 0 && check.out.contains("3 rules OK"), "\(check.out)\(check.err)")
        #expect(test.status == 0 && test.out.contains("1 passed, 0 failed"), "\(test.out)\(test.err)")
    }

    @Test func shellCompletionsComplete() throws {
        let deb = try debUnderTest.get().path
        let unpacked = tempDir("completions")
        #expect(try runCommand(["dpkg-deb", "-x", deb, unpacked]).0 == 0)
        // bash: what pressing TAB after `trailwatch lo` and `trailwatch logs filter --pat` offers.
        let bash = unpacked + "/usr/share/bash-completion/completions/trailwatch"
        func complete(_ words: [String]) throws -> [String] {
            let script = """
                source \(shellQuote(bash))
                COMP_WORDS=(\(words.map(shellQuote).joined(separator: " "))); COMP_CWORD=\(words.count - 1)
                COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
                _trailwatch trailwatch "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
                printf '%s\\n' "${COMPREPLY[@]}"
                """
            let (s, out) = try runCommand(["bash", "-c", script])
            #expect(s == 0, "\(out)")
            return out.split(separator: "\n").map(String.init)
        }
        #expect(try complete(["trailwatch", "lo"]) == ["logs"])
        #expect(try complete(["trailwatch", "logs", "filter", "--pat"]) == ["--pattern"])
        // zsh and fish: the files parse (CI installs both shells; .ci/run).
        for (shell, file) in [("zsh", "/usr/share/zsh/vendor-completions/_trailwatch"), ("fish", "/usr/share/fish/vendor_completions.d/trailwatch.fish")] {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/" + shell) else {
                Issue.record("\(shell) is not installed (scripts/setup-debian.sh installs it)")
                continue
            }
            let (s, out) = try runCommand([shell, "-n", unpacked + file])
            #expect(s == 0, "\(shell): \(out)")
            #expect(try String(contentsOfFile: unpacked + file, encoding: .utf8).contains("simulate"))
        }
    }
}
