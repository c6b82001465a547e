import DocketWire
import Testing

@Suite struct SubjectTests {
    @Test(arguments: ["foo", "foo.bar", "a*b", "foo.>", "*", ">", "foo.*.baz", "*.*", "$JOB.q.done", "_INBOX.x.*"])
    func validFilters(_ subject: String) {
        #expect(Subject.isValidFilter(Array(subject.utf8)))
    }

    @Test(arguments: ["", ".", "foo.", ".foo", "foo..bar", "foo.>.bar", ">.foo", "foo.>."])
    func invalidFilters(_ subject: String) {
        #expect(!Subject.isValidFilter(Array(subject.utf8)))
    }

    @Test(arguments: ["foo", "foo.bar", "a*b", "a>b", "x.y.z"])
    func validLiterals(_ subject: String) {
        #expect(Subject.isValidLiteral(Array(subject.utf8)))
    }

    @Test(arguments: ["foo.*", "foo.>", "*", ">", "", "foo..bar", "foo."])
    func invalidLiterals(_ subject: String) {
        #expect(!Subject.isValidLiteral(Array(subject.utf8)))
    }
}
