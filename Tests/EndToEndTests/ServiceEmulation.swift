import Foundation
import Glibc
import Testing
import TestSupport

/// A unit file's `[Service]` section as systemd reads it: a setting given twice keeps both values
/// (in order), an empty assignment resets it, `#`/`;` start comments, a trailing `\` continues a line.
struct ServiceUnit {
    private(set) var settings: [String: [String]] = [:]

    init(path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "\\\n", with: " ")
        var section = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") { section = line; continue }
            guard section == "[Service]", let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq]).trimmingCharacters(in: .whitespaces)
            let value = String(line[line.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            if value.isEmpty { settings[key] = [] } else { settings[key, default: []].append(value) }
        }
    }

    /// The last value of a single-valued setting.
    func value(_ key: String) -> String? { settings[key]?.last }

    /// Every word of a list setting (`SupplementaryGroups=a b`, repeated lines).
    func words(_ key: String) -> [String] { (settings[key] ?? []).flatMap { $0.split(separator: " ").map(String.init) } }

    func isOn(_ key: String) -> Bool { ["yes", "true", "on", "1"].contains(value(key)?.lowercased() ?? "") }

    /// `Environment=` assignments (`A=1 "B=two words"`).
    var environment: [String: String] {
        var env: [String: String] = [:]
        for word in (settings["Environment"] ?? []).flatMap(Self.split) {
            if let eq = word.firstIndex(of: "=") { env[String(word[..<eq])] = String(word[word.index(after: eq)...]) }
        }
        return env
    }

    /// Splits a command line the way systemd does for the forms units use: words, "double quotes".
    static func split(_ line: String) -> [String] {
        var words: [String] = [], word = "", quoted = false, started = false
        for c in line {
            if c == "\"" { quoted.toggle(); started = true } else if c == " " && !quoted {
                if started { words.append(word) }
                word = ""
                started = false
            } else { word.append(c); started = true }
        }
        if started { words.append(word) }
        return words
    }
}

/// One entry of a passwd or group file.
struct UserDBEntry {
    let fields: [String]
    var name: String { fields[0] }
    var id: UInt32 { UInt32(fields[2]) ?? 0 }
}

func userDB(_ path: String) -> [UserDBEntry] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map {
        UserDBEntry(fields: $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init))
    }
}

/// Starts a service's `ExecStart` the way systemd would, from a root a package was installed into,
/// on a machine whose PID 1 is not systemd. Emulated: the user (`User=`, `Group=`, its groups from the
/// root's /etc/group plus `SupplementaryGroups=`, or a transient uid for `DynamicUser=`), the
/// `StateDirectory=`/`LogsDirectory=`/`CacheDirectory=` (created and owned by the user, with their
/// modes and `$STATE_DIRECTORY`…), `ConfigurationDirectory=` (created, never chowned), the environment
/// (`Environment=`, `$HOME` `$USER` `$LOGNAME` `$SHELL`, `$INVOCATION_ID`, `$NOTIFY_SOCKET`,
/// `$WATCHDOG_USEC`/`$WATCHDOG_PID`), `UMask=`, `NoNewPrivileges=`, an empty `CapabilityBoundingSet=`,
/// `PrivateTmp=`, `PrivateDevices=`, `ProtectProc=`/`ProcSubset=`, and `ProtectSystem=strict` (the whole
/// file system read-only but the service's own directories).
///
/// How: in a private mount namespace, the installed root is laid over this machine's root with a
/// read-only overlay (so the service sees this machine with the package installed, and can change
/// nothing but its directories, which are bind-mounted from the installed root), then `chroot` and
/// `setpriv` drop to the service's ids and `exec` the command unchanged. Not emulated (they need PID 1
/// or seccomp): `SystemCallFilter=`, `PrivateNetwork=`, `PrivateUsers=`, `RestrictAddressFamilies=`,
/// `MemoryDenyWriteExecute=`, `Protect{Kernel*,Clock,Hostname,ControlGroups}=`.
struct ServiceEmulation {
    let root: String
    let unit: ServiceUnit
    let uid: UInt32
    let gid: UInt32
    let groups: [UInt32]
    let environment: [String: String]
    /// Host paths (inside `root`) of the directories the service may write, by their path in the root.
    let writable: [String: String]

    /// Settings that change what the service sees and that this emulation does not reproduce: a unit
    /// using one must not pass for tested.
    static let unsupported = ["RootDirectory", "RootImage", "ReadWritePaths", "BindPaths", "BindReadOnlyPaths",
                              "TemporaryFileSystem", "EnvironmentFile", "RuntimeDirectory", "WorkingDirectory",
                              "InaccessiblePaths", "ReadOnlyPaths", "PassEnvironment", "LoadCredential", "SetCredential"]

    /// Does at start what systemd does before it forks the service: the ids, the directories, the environment.
    init(root: String, unitPath: String) throws {
        self.root = root
        unit = try ServiceUnit(path: root + unitPath)
        for key in Self.unsupported where unit.settings[key] != nil {
            Issue.record("\(key)= is not emulated: extend ServiceEmulation before trusting this test")
        }
        let passwd = userDB(root + "/etc/passwd"), groupDB = userDB(root + "/etc/group")
        let userName = unit.value("User") ?? "root"
        let dynamic = unit.isOn("DynamicUser")
        var home = "/", shell = "/usr/sbin/nologin"
        if let user = passwd.first(where: { $0.name == userName }) {
            uid = user.id
            gid = UInt32(user.fields[3]) ?? 0
            home = user.fields[5]
            shell = user.fields[6]
        } else if dynamic {
            // systemd picks a free uid from 61184-65519 and a group of the same number.
            uid = 61184
            gid = 61184
        } else {
            throw EmulationError(message: "User=\(userName) is not in \(root)/etc/passwd (and DynamicUser= is off)")
        }
        if let groupName = unit.value("Group"), let group = groupDB.first(where: { $0.name == groupName }) {
            #expect(group.id == gid, "Group=\(groupName) is not the user's primary group")
        }
        var groups = groupDB.filter { $0.fields.count > 3 && $0.fields[3].split(separator: ",").contains(Substring(userName)) }.map(\.id)
        for name in unit.words("SupplementaryGroups") {
            guard let g = groupDB.first(where: { $0.name == name }) else {
                throw EmulationError(message: "SupplementaryGroups=\(name): no such group in \(root)/etc/group")
            }
            groups.append(g.id)
        }
        self.groups = groups

        var env = unit.environment
        env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        env["HOME"] = home
        env["SHELL"] = shell
        env["USER"] = userName
        env["LOGNAME"] = userName
        env["INVOCATION_ID"] = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        var writable: [String: String] = [:]
        let kinds = [("StateDirectory", "/var/lib", "STATE_DIRECTORY"), ("CacheDirectory", "/var/cache", "CACHE_DIRECTORY"),
                     ("LogsDirectory", "/var/log", "LOGS_DIRECTORY"), ("ConfigurationDirectory", "/etc", "CONFIGURATION_DIRECTORY")]
        let fm = FileManager.default
        for (key, base, variable) in kinds {
            let names = unit.words(key)
            if names.isEmpty { continue }
            let mode = Int(unit.value(key + "Mode") ?? "0755", radix: 8) ?? 0o755
            for name in names {
                let path = base + "/" + name
                if key == "ConfigurationDirectory" {
                    // Created if missing, owned by root, never chowned: the service only reads it.
                    if !fm.fileExists(atPath: root + path) { try fm.createDirectory(atPath: root + path, withIntermediateDirectories: true) }
                    continue
                }
                // With DynamicUser= the directory lives under private/ (0700) and the name is a symlink to it.
                let real = dynamic ? base + "/private/" + name : path
                if dynamic {
                    try fm.createDirectory(atPath: root + base + "/private", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                    if (try? fm.destinationOfSymbolicLink(atPath: root + path)) == nil {
                        try fm.createSymbolicLink(atPath: root + path, withDestinationPath: "private/" + name)
                    }
                }
                try fm.createDirectory(atPath: root + real, withIntermediateDirectories: true)
                #expect(chown(root + real, uid, gid) == 0 && chmod(root + real, mode_t(mode)) == 0)
                writable[real] = root + real
            }
            env[variable] = names.map { base + "/" + $0 }.joined(separator: ":")
        }
        self.writable = writable
        environment = env
    }

    /// Starts `ExecStart` (the process is the service's main process: every step `exec`s the next).
    /// `notifySocket` is a datagram socket on this machine, seen by the service as /run/systemd/notify.
    /// `hideToolchain`: mount an empty folder over /opt/swift, as on a machine without Swift.
    func start(notifySocket: String, hideToolchain: Bool) throws -> Child {
        let exec = try #require(unit.value("ExecStart"), "the unit has no ExecStart=")
        let argv = ServiceUnit.split(exec.hasPrefix("-") || exec.hasPrefix("@") ? String(exec.dropFirst()) : exec)
        let work = tempDir("emulation")
        let layer = work + "/layer", merged = work + "/merged"
        for d in [layer, merged] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        chmod(notifySocket, 0o777)  // systemd's notify socket is writable by every service
        var env = environment
        env["NOTIFY_SOCKET"] = "/run/systemd/notify"
        if let watchdog = unit.value("WatchdogSec"), let seconds = Double(watchdog.replacingOccurrences(of: "s", with: "")) {
            env["WATCHDOG_USEC"] = String(Int(seconds * 1_000_000))
        }
        var setpriv = ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)",
                       groups.isEmpty ? "--clear-groups" : "--groups=" + groups.map(String.init).joined(separator: ",")]
        if unit.isOn("NoNewPrivileges") { setpriv.append("--no-new-privs") }
        if unit.settings["CapabilityBoundingSet"] == [] { setpriv += ["--bounding-set=-all", "--inh-caps=-all"] }
        let q = shellQuote
        var s = ["set -e",
                 // The installed root copied to a tmpfs (overlay layers must not overlap: the root lies inside /).
                 "mount -t tmpfs -o mode=0755 trailwatch-layer \(q(layer))",
                 "cp -a \(q(root)) \(q(layer))/root",
                 "mount -t overlay overlay -o \(q("ro,lowerdir=" + layer + "/root:/")) \(q(merged))"]
        let procOptions = [unit.value("ProtectProc").map { "hidepid=" + $0 }, unit.value("ProcSubset").map { "subset=" + $0 }].compactMap { $0 }
        s.append("mount -t proc \(procOptions.isEmpty ? "" : "-o " + procOptions.joined(separator: ",")) proc \(q(merged))/proc")
        if unit.isOn("PrivateDevices") {
            s.append("mount -t tmpfs -o mode=0755,nosuid,noexec private-dev \(q(merged))/dev")
            for n in ["null", "zero", "full", "random", "urandom"] {
                s.append("touch \(q(merged))/dev/\(n) && mount --bind /dev/\(n) \(q(merged))/dev/\(n)")
            }
            s.append("ln -s /proc/self/fd \(q(merged))/dev/fd")
        } else {
            s.append("mount --rbind /dev \(q(merged))/dev")
        }
        s.append("mount --rbind /sys \(q(merged))/sys")
        s.append("mount -t tmpfs -o mode=0755 run \(q(merged))/run")
        s.append("mkdir -p \(q(merged))/run/systemd/journal && mount --bind /run/systemd/journal \(q(merged))/run/systemd/journal")
        s.append("if [ -d /run/log/journal ]; then mkdir -p \(q(merged))/run/log/journal && mount --bind /run/log/journal \(q(merged))/run/log/journal; fi")
        s.append("touch \(q(merged))/run/systemd/notify && mount --bind \(q(notifySocket)) \(q(merged))/run/systemd/notify")
        if unit.isOn("PrivateTmp") {
            s.append("mount -t tmpfs -o mode=1777 private-tmp \(q(merged))/tmp && mount -t tmpfs -o mode=1777 private-var-tmp \(q(merged))/var/tmp")
        }
        if hideToolchain { s.append("if [ -d \(q(merged))/opt/swift ]; then mount -t tmpfs -o ro,mode=0755 no-toolchain \(q(merged))/opt/swift; fi") }
        let strict = unit.value("ProtectSystem") == "strict"
        #expect(strict, "only ProtectSystem=strict is emulated (the overlay is read-only)")
        for (inRoot, host) in writable.sorted(by: { $0.key < $1.key }) {
            s.append("mount --bind \(q(host)) \(q(merged + inRoot))")
        }
        s.append("umask \(unit.value("UMask") ?? "0022")")
        let envWords = env.sorted { $0.key < $1.key }.map { q($0.key + "=" + $0.value) } + ["WATCHDOG_PID=$$"]
        s.append("exec /usr/bin/env -i \(envWords.joined(separator: " ")) /usr/sbin/chroot \(q(merged)) "
                 + (setpriv + ["--"] + argv).map(q).joined(separator: " "))
        return try Child(["--mount", "--propagation", "private", "/bin/sh", "-c", s.joined(separator: "\n")],
                         executable: "/usr/bin/unshare")
    }
}

struct EmulationError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
