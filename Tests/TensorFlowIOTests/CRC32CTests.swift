import CCRC32C
import XCTest

final class CRC32CTests: XCTestCase {
    func testKnownVector() {
        // The CRC-32C check value of "123456789" (RFC 3720 appendix B.4).
        let bytes = Array("123456789".utf8)
        XCTAssertEqual(vaiq_crc32c_extend(0, bytes, bytes.count), 0xE306_9283)
        XCTAssertEqual(vaiq_crc32c_extend_portable(0, bytes, bytes.count), 0xE306_9283)
    }

    func testHardwarePathEqualsTablePathAtEveryLengthAndAlignment() {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<1031).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { raw in
            for start in 0..<9 {
                for length in stride(from: 0, to: 1000, by: 37) {
                    let p = raw.baseAddress! + start
                    XCTAssertEqual(vaiq_crc32c_extend(0, p, length), vaiq_crc32c_extend_portable(0, p, length))
                }
            }
        }
    }

    func testExtendingInPiecesEqualsOneGo() {
        let bytes = Array("hello, checkpoint".utf8)
        let whole = vaiq_crc32c_extend(0, bytes, bytes.count)
        let first = vaiq_crc32c_extend(0, bytes, 5)
        let rest = bytes.withUnsafeBytes { vaiq_crc32c_extend(first, $0.baseAddress! + 5, bytes.count - 5) }
        XCTAssertEqual(whole, rest)
    }

    func testMaskRoundTrip() {
        for crc: UInt32 in [0, 1, 0xE306_9283, .max] {
            XCTAssertEqual(vaiq_crc32c_unmask(vaiq_crc32c_mask(crc)), crc)
            XCTAssertNotEqual(vaiq_crc32c_mask(crc), crc)
        }
    }
}
