import Foundation
import Testing

@Suite struct PackagingTests {
    @Test func theDebianPackageHoldsWhatAnOperatorNeeds() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg-deb") else {
            Issue.record("dpkg-deb is missing")
            return
        }
        let out = tempDir("deb")
        let (status, built) = try runCommand([repoRoot.appendingPathComponent("packaging/build-deb.sh").path, trailwatchBinary, out])
        #expect(status == 0, "\(built)")
        let deb = try #require(built.split(separator: "\n").last.map(String.init))
        let (_, contents) = try runCommand(["dpkg-deb", "-c", deb])
        for path in [
            "./usr/bin/trailwatch", "./lib/systemd/system/trailwatch.service", "./etc/trailwatch/trailwatch.conf",
            "./usr/share/trailwatch/rules/cloudtrail.rules", "./usr/share/trailwatch/rules/cis.rules",
            "./usr/share/trailwatch/rules/known-networks.list", "./usr/share/trailwatch/rules/fixtures/root-console-login.json",
            "./usr/lib/systemd/catalog/trailwatch.catalog", "./usr/share/doc/trailwatch/rules.md",
        ] {
            #expect(contents.contains(path), "\(path) missing from the package")
        }
        let (_, control) = try runCommand(["dpkg-deb", "-f", deb, "Package", "Version", "Depends"])
        #expect(control.contains("Package: trailwatch") && control.contains("Version: 0.1.0") && control.contains("libsystemd0"))
        // The shipped rules pass their tests where the package puts them (fixtures resolve beside them).
        let unpacked = tempDir("unpacked")
        #expect(try runCommand(["dpkg-deb", "-x", deb, unpacked]).0 == 0)
        let t = try trailwatch(["rules", "test", unpacked + "/usr/share/trailwatch/rules"])
        #expect(t.status == 0 && t.out.contains("50 passed, 0 failed"), "\(t.out)")
        let conf = try String(contentsOfFile: unpacked + "/etc/trailwatch/trailwatch.conf", encoding: .utf8)
        #expect(conf.contains("rules = /usr/share/trailwatch/rules") && conf.contains("state = /var/lib/trailwatch"))
        let (_, conffiles) = try runCommand(["sh", "-c", "dpkg-deb -I \(deb) conffiles"])
        #expect(conffiles.contains("/etc/trailwatch/trailwatch.conf"))
    }
}
