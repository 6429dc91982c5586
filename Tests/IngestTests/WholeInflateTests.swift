import CloudTrail
import Gzip
import Ingest
import LogStore
import Testing
import TestSupport

/// libdeflate's whole-buffer inflate (``WholeInflater``) and the decoder's use of it: the trailer's
/// claimed size is only a hint, and whatever it claims the decoder gives the same result (records,
/// or the same failure) as streaming through zlib, within the same limits.
@Suite struct WholeInflateTests {
    static let key = LogFileKey(
        prefix: "", organizationID: nil, account: "123456789012", region: "us-east-1", deliveryTime: 0,
        unique: "WHOLE00000000001", fileName: "f.json.gz")

    static func document(_ n: Int) -> [UInt8] {
        Array(("{\"Records\":[" + (0..<n).map { rec(guid($0), "2024-03-01T10:00:00Z") }.joined(separator: ",") + "]}").utf8)
    }

    /// The file with its trailer's ISIZE replaced.
    static func claiming(_ size: UInt32, _ gz: [UInt8]) -> [UInt8] {
        var out = gz
        withUnsafeBytes(of: size.littleEndian) { out.replaceSubrange(out.count - 4..<out.count, with: $0) }
        return out
    }

    static func decode(_ bytes: [UInt8], whole: Bool, _ adjust: (inout DecodeLimits) -> Void = { _ in }) -> Result<MatchedFile, IngestFailure> {
        var limits = DecodeLimits()
        adjust(&limits)
        if !whole { limits.wholeBytes = 0 }
        return FileDecoder.decode(bytes: bytes, ledgerKey: "k", key: key, size: Int64(bytes.count), mtime: 0, limits: limits)
    }

    /// Both paths: the same records, or the same failure (code and reason).
    static func expectSame(_ bytes: [UInt8], _ adjust: (inout DecodeLimits) -> Void = { _ in }, sourceLocation: SourceLocation = #_sourceLocation) {
        switch (decode(bytes, whole: true, adjust), decode(bytes, whole: false, adjust)) {
        case (.success(let a), .success(let b)):
            #expect(a.records.map(\.entry) == b.records.map(\.entry), sourceLocation: sourceLocation)
            #expect(a.uncompressedSize == b.uncompressedSize, sourceLocation: sourceLocation)
        case (.failure(let a), .failure(let b)):
            #expect(a == b, sourceLocation: sourceLocation)
        case (let a, let b):
            Issue.record("whole \(a) vs streaming \(b)", sourceLocation: sourceLocation)
        }
    }

    @Test func roundTripsAndReadsTheClaimedSize() throws {
        let doc = Self.document(500)
        let gz = Deflater.gzip(doc)
        let claimed = gz.withUnsafeBytes { WholeInflater.claimedSize($0) }
        #expect(claimed == doc.count)
        let out = try gz.withUnsafeBytes { try WholeInflater().inflate($0, claimedSize: doc.count, limit: doc.count) }
        #expect(out == doc)
        #expect([UInt8]([0x1F, 0x8B, 0]).withUnsafeBytes { WholeInflater.claimedSize($0) } == nil, "too short for gzip")
        #expect(Array(doc.prefix(40)).withUnsafeBytes { WholeInflater.claimedSize($0) } == nil, "not gzip")
        let file = try Self.decode(gz, whole: true).get()
        #expect(file.records.count == 500 && file.uncompressedSize == doc.count)
        Self.expectSame(gz)
    }

    @Test func aClaimedSizeThatIsWrongOrOverTheLimitFailsWithoutInflatingPastIt() throws {
        let doc = Self.document(200)
        let gz = Deflater.gzip(doc)
        func code(_ claimed: Int, limit: Int = .max) -> GzipError.Code? {
            do {
                _ = try gz.withUnsafeBytes { try WholeInflater().inflate($0, claimedSize: claimed, limit: limit) }
                return nil
            } catch let e as GzipError { return e.code } catch { return nil }
        }
        #expect(code(doc.count + 100) == .notWhole, "claims more than it inflates to")
        #expect(code(doc.count - 100) == .notWhole, "claims less: stops at the claim")
        #expect(code(0) == .notWhole)
        #expect(code(doc.count, limit: doc.count - 1) == .tooLarge, "over the caller's limit: refused before allocating")
        #expect(code(-1) == .tooLarge)
    }

    /// A trailer lying high or low (a damaged or hostile file): the decoder falls back to zlib,
    /// which reports the same fault as it always did.
    @Test func aLyingTrailerFallsBackToStreaming() {
        let doc = Self.document(200)
        let gz = Deflater.gzip(doc)
        for claim in [UInt32(doc.count + 1), UInt32(doc.count - 1), 1, 0, UInt32(64 << 20), UInt32.max] {
            let lying = Self.claiming(claim, gz)
            guard case .failure(let f) = Self.decode(lying, whole: true) else {
                Issue.record("a wrong ISIZE (\(claim)) is a corrupt file")
                continue
            }
            #expect(f.code == .corruptGzip, "\(claim): \(f)")
            Self.expectSame(lying)
        }
    }

    /// Several gzip members (as `gzip -dc` accepts) or trailing zero padding: the trailer describes
    /// the last member only; the whole inflate stops after the first and the file is streamed.
    @Test func aMultiMemberFileFallsBackToStreaming() throws {
        let doc = Self.document(300)
        let half = doc.count / 2
        let two = Deflater.gzip(Array(doc[..<half])) + Deflater.gzip(Array(doc[half...]))
        let file = try Self.decode(two, whole: true).get()
        #expect(file.records.count == 300 && file.uncompressedSize == doc.count)
        Self.expectSame(two)
        // Two equal members: the first inflates to exactly the size the trailer claims.
        let member = Deflater.gzip(Array("{\"Records\":[".utf8) + Array(doc[12..<half]))
        let same = member + member
        let err = #expect(throws: GzipError.self) {
            try same.withUnsafeBytes { try WholeInflater().inflate($0, claimedSize: half, limit: .max) }
        }
        #expect(err?.code == .notWhole)
        Self.expectSame(same)
        let padded = Deflater.gzip(doc) + [UInt8](repeating: 0, count: 512)
        #expect(try Self.decode(padded, whole: true).get().records.count == 300)
        Self.expectSame(padded)
    }

    /// Truncated or damaged files keep the streaming path's precise failures.
    @Test func truncatedAndCorruptFilesGiveTheZlibFailures() throws {
        let doc = Self.document(300)
        let gz = Deflater.gzip(doc)
        let trailer = Array(gz.suffix(4))
        var corrupt = gz
        corrupt[gz.count / 2] ^= 0x55
        var badCRC = gz
        badCRC[gz.count - 8] ^= 1
        let cases: [(String, [UInt8], IngestFailure.Code?)] = [
            ("cut short", Array(gz.dropLast(100)), nil),
            ("cut short, trailer kept", Array(gz.dropLast(100)) + trailer, nil),
            ("trailer missing", Array(gz.dropLast(8)), .truncated),
            ("damaged in the middle", corrupt, nil),
            ("CRC mismatch", badCRC, .corruptGzip),
            ("not gzip", doc, .corruptGzip),
        ]
        for (name, bytes, code) in cases {
            guard case .failure(let f) = Self.decode(bytes, whole: true) else {
                Issue.record("\(name): decoded")
                continue
            }
            #expect(f.code == .truncated || f.code == .corruptGzip, "\(name): \(f)")
            if let code { #expect(f.code == code, "\(name): \(f)") }
            Self.expectSame(bytes)
        }
        let err = #expect(throws: GzipError.self) {
            try corrupt.withUnsafeBytes { try WholeInflater().inflate($0, claimedSize: doc.count, limit: .max) }
        }
        #expect(err?.code == .corrupt || err?.code == .notWhole)
    }

    /// A bomb whose trailer claims a small size: the whole inflate stops at the claim, and the
    /// streaming path refuses it at `max-inflated-size` as before.
    @Test func aBombClaimingASmallSizeIsStillCapped() throws {
        let bomb = gzipStream(prefix: "{\"Records\":[", repeating: [UInt8](repeating: 0x20, count: 1 << 20), count: 24, suffix: "]}")
        for claim in [UInt32(1000), UInt32(3 << 20)] {
            let lying = Self.claiming(claim, bomb)
            let err = #expect(throws: GzipError.self) {
                try lying.withUnsafeBytes { try WholeInflater().inflate($0, claimedSize: Int(claim), limit: 4 << 20) }
            }
            #expect(err?.code == .notWhole)
            guard case .failure(let f) = Self.decode(lying, whole: true, { $0.inflatedBytes = 4 << 20 }) else {
                Issue.record("the bomb decoded")
                continue
            }
            #expect(f.code == .tooLarge && f.reason.contains("inflates to more than 4 MiB"), "\(f)")
            Self.expectSame(lying) { $0.inflatedBytes = 4 << 20 }
        }
        // Its true size over the whole-buffer limit: streamed, and capped the same.
        Self.expectSame(bomb) { $0.inflatedBytes = 4 << 20 }
        Self.expectSame(bomb) { $0.wholeBytes = 1 << 20 }
    }

    /// The limits on records hold the same when the file is inflated whole.
    @Test func recordLimitsHoldTheSameWhenInflatedWhole() throws {
        let doc = Self.document(2000)
        let gz = Deflater.gzip(doc)
        Self.expectSame(gz) { $0.records = 1999 }
        Self.expectSame(gz) { $0.recordBytes = 100 }
        let huge = gzipStream(
            prefix: "{\"Records\":[{\"eventTime\":\"2024-03-01T10:00:00Z\",\"x\":\"", repeating: [UInt8](repeating: 0x61, count: 1 << 20),
            count: 3, suffix: "\"}]}")
        guard case .failure(let f) = Self.decode(huge, whole: true, { $0.recordBytes = 1 << 20 }) else {
            Issue.record("a 3 MiB record passed a 1 MiB limit")
            return
        }
        #expect(f.code == .tooLarge && f.reason.contains("max-record-size"), "\(f)")
        Self.expectSame(huge) { $0.recordBytes = 1 << 20 }
        // A whole-buffer limit over max-inflated-size does not raise it.
        guard case .failure(let g) = Self.decode(gz, whole: true, { $0.inflatedBytes = doc.count - 1 }) else {
            Issue.record("inflated past max-inflated-size")
            return
        }
        #expect(g.code == .tooLarge)
    }
}
