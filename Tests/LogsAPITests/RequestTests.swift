import LogsAPI
import Testing

/// The request side of the API without HTTP or a store: body parsing, member types and limits,
/// unknown members, error bodies, and tokens.
@Suite struct RequestTests {
    func fields(_ json: String) throws(APIError) -> RequestFields { try RequestFields(body: Array(json.utf8)) }

    func code(_ body: () throws -> Void) -> APIError.Code? {
        do { try body() } catch let e as APIError { return e.code } catch { return nil }
        return nil
    }

    @Test func bodiesThatAreNotAJSONObjectAreSerializationErrors() throws {
        for body in ["{", "[1]", "\"text\"", "12", "{\"a\": }", "\u{FF}"] {
            #expect(code { _ = try fields(body) } == .serialization, "\(body)")
        }
        // Deep nesting is refused before decoding (a megabyte of `[` must not exhaust the stack).
        let deep = "{\"a\": " + String(repeating: "[", count: 500_000) + String(repeating: "]", count: 500_000) + "}"
        #expect(code { _ = try fields(deep) } == .serialization)
        #expect(code { _ = try fields("{\"a\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}") } == nil, "brackets in a string are text")
        // No body and `{}` both mean no parameters.
        var empty = try fields("")
        #expect(try empty.string("logGroupNamePrefix", max: 512) == nil)
        try empty.finish()
        try fields("{}").finish()
    }

    @Test func membersAreReadWithTheirTypesAndLimits() throws {
        var f = try fields(#"{"limit": 50, "descending": true, "logStreamNames": ["a", "b"], "logGroupName": "g", "startTime": null}"#)
        #expect(try f.integer("limit", in: 1...50) == 50)
        #expect(try f.bool("descending") == true)
        #expect(try f.strings("logStreamNames", count: 1...100, max: 512) == ["a", "b"])
        #expect(try f.requiredString("logGroupName", max: 512) == "g")
        #expect(try f.integer("startTime") == nil, "null is absent")
        try f.finish()

        #expect(code { var f = try fields(#"{"limit": "10"}"#); _ = try f.integer("limit", in: 1...50) } == .serialization)
        #expect(code { var f = try fields(#"{"limit": 1.5}"#); _ = try f.integer("limit", in: 1...50) } == .serialization)
        #expect(code { var f = try fields(#"{"limit": true}"#); _ = try f.integer("limit", in: 1...50) } == .serialization)
        #expect(code { var f = try fields(#"{"limit": 0}"#); _ = try f.integer("limit", in: 1...50) } == .invalidParameter)
        #expect(code { var f = try fields(#"{"limit": 51}"#); _ = try f.integer("limit", in: 1...50) } == .invalidParameter)
        #expect(code { var f = try fields(#"{"descending": "yes"}"#); _ = try f.bool("descending") } == .serialization)
        #expect(code { var f = try fields(#"{"logGroupName": ""}"#); _ = try f.requiredString("logGroupName", max: 512) } == .invalidParameter)
        #expect(code { var f = try fields("{}"); _ = try f.requiredString("logStreamName", max: 512) } == .invalidParameter)
        let long = String(repeating: "x", count: 1025)
        #expect(code { var f = try fields("{\"filterPattern\": \"\(long)\"}"); _ = try f.string("filterPattern", max: 1024) } == .invalidParameter)
        #expect(code { var f = try fields(#"{"logStreamNames": []}"#); _ = try f.strings("logStreamNames", count: 1...100, max: 512) } == .invalidParameter)
        #expect(code { var f = try fields(#"{"logStreamNames": [1]}"#); _ = try f.strings("logStreamNames", count: 1...100, max: 512) } == .serialization)
    }

    @Test func aMemberNoActionReadIsRefusedByName() throws {
        var f = try fields(#"{"logGroupName": "g", "logStreamNamePrefx": "a"}"#)
        _ = try f.string("logGroupName", max: 512)
        do {
            try f.finish()
            Issue.record("an unknown member was accepted")
        } catch {
            #expect(error.code == .serialization && error.message.contains("logStreamNamePrefx"))
        }
    }

    @Test func errorBodiesAreWhatBotocoreParses() {
        let e = APIError(.resourceNotFound, "The specified log group does not exist: \"x\"")
        #expect(e.status == 400)
        #expect(String(decoding: e.body, as: UTF8.self) == #"{"__type":"ResourceNotFoundException","message":"The specified log group does not exist: \"x\""}"#)
        #expect(APIError(.requestEntityTooLarge, "").status == 413)
        #expect(APIError(.requestTimeout, "").status == 408)
        #expect(APIError(.missingAuthenticationToken, "").status == 400)
    }

    @Test func tokensOpenOnlyUnchangedAndInTheirOwnContext() {
        let signer = TokenSigner(key: Array(repeating: 7, count: 32))
        let payload = String(repeating: "1", count: 52)
        let token = signer.sign(payload, context: "filter\u{1F}g")
        #expect(token.count == 72 && token.allSatisfy(\.isNumber))
        #expect(signer.open(Substring(token), context: "filter\u{1F}g") == payload)
        #expect(signer.open(Substring(token), context: "filter\u{1F}other") == nil, "another group's token")
        for i in [0, 30, 60, 71] {
            var t = Array(token)
            t[i] = t[i] == "0" ? "1" : "0"
            #expect(signer.open(Substring(String(t)), context: "filter\u{1F}g") == nil, "digit \(i) changed")
        }
        #expect(signer.open("123", context: "filter\u{1F}g") == nil)
        #expect(TokenSigner().open(Substring(token), context: "filter\u{1F}g") == nil, "another process's key")
        #expect(signer.sign(payload, context: "c") == signer.sign(payload, context: "c"), "the same position gives the same token")
    }

    @Test func callersReadOnlyTheirAccounts() {
        let c = Caller(name: "c", accounts: .only(["111111111111"]), mayChangeRetention: false)
        #expect(c.mayRead(account: "111111111111") && !c.mayRead(account: "222222222222"))
        #expect(Caller(name: "all", accounts: .all, mayChangeRetention: true).mayRead(account: "222222222222"))
        if case .failure(let e) = refuseEveryRequest(APIRequest(method: "POST", path: "/", rawQuery: "", headers: [], body: [])) {
            #expect(e.code == .missingAuthenticationToken)
        } else {
            Issue.record("the default authenticator accepted a request")
        }
    }
}
