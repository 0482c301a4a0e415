import XCTest
@testable import Manifest
