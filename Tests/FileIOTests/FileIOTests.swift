import FileIO
import XCTest

final class FileIOTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "vaiq-fileio-\(UUID().uuidString)"
        try FileIO.createDirectories(dir + "/a/b")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testAtomicWriteReplacesAndLeavesNoTempFiles() throws {
        let path = dir + "/a/b/out.bin"
        try FileIO.writeAtomically([1, 2, 3], to: path)
        try FileIO.writeAtomically([4, 5], to: path)
        XCTAssertEqual(try FileIO.read(path), [4, 5])
        XCTAssertEqual(try FileIO.listDirectory(dir + "/a/b"), ["out.bin"])
    }

    func testReadingPastTheEndNamesTheFileAndRange() throws {
        let path = dir + "/short.bin"
        try FileIO.writeAtomically([UInt8](repeating: 7, count: 10), to: path)
        let file = try RandomAccessFile(path: path)
        XCTAssertEqual(try file.read(offset: 8, count: 2), [7, 7])
        XCTAssertThrowsError(try file.read(offset: 8, count: 4)) { error in
            XCTAssertEqual("\(error)", "\(path): truncated: needs bytes 8..<12 but the file has 10")
        }
    }

    func testMissingFileAndDirectoryErrors() {
        XCTAssertThrowsError(try FileIO.read(dir + "/nope")) { error in
            XCTAssertEqual("\(error)", "\(dir)/nope: cannot open: No such file or directory")
        }
        XCTAssertThrowsError(try FileIO.read(dir + "/a")) { error in
            XCTAssertEqual("\(error)", "\(dir)/a: is a directory, expected a file")
        }
    }

    func testStaleTemporariesOfDeadProcessesAreRemoved() throws {
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let mine = ProcessInfo.processInfo.processIdentifier
        for name in [".a.pb.tmp-\(dead.processIdentifier)-1", ".b.pb.tmp-\(mine)-2", ".c.tmp-notapid-3", "d.pb"] {
            try FileIO.writeAtomically([1], to: "\(dir)/a/\(name)")
        }
        XCTAssertEqual(FileIO.removeStaleTemporaries(in: dir + "/a"), 1)
        XCTAssertEqual(try FileIO.listDirectory(dir + "/a"), [".b.pb.tmp-\(mine)-2", ".c.tmp-notapid-3", "b", "d.pb"])
    }

    func testPathHelpers() {
        XCTAssertEqual(FileIO.directoryName("a/b/c.pb"), "a/b")
        XCTAssertEqual(FileIO.directoryName("c.pb"), ".")
        XCTAssertEqual(FileIO.directoryName("/c.pb"), "/")
        XCTAssertEqual(FileIO.baseName("a/b/c.pb"), "c.pb")
        XCTAssertEqual(FileIO.resolve("x", relativeTo: "d"), "d/x")
        XCTAssertEqual(FileIO.resolve("/x", relativeTo: "d"), "/x")
    }
}
