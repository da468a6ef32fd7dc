import XCTest

@testable import TollgateServer

final class ReadableDateTests: XCTestCase {
    func testCalendarDaysInUTC() {
        XCTAssertEqual(ReadableDate.calendarDay(0), "1 Jan 1970")
        XCTAssertEqual(ReadableDate.calendarDay(1_827_792_000), "3 Dec 2027")
        XCTAssertEqual(ReadableDate.calendarDay(1_827_792_000 + 86_399), "3 Dec 2027")
        XCTAssertEqual(ReadableDate.calendarDay(951_782_400), "29 Feb 2000")
        XCTAssertEqual(ReadableDate.calendarDay(1_580_515_200), "1 Feb 2020")
        XCTAssertEqual(ReadableDate.calendarDay(-1), "31 Dec 1969")
        XCTAssertEqual(ReadableDate.calendarDay(-86_400), "31 Dec 1969")
    }

    func testDistancesInWordsFromAnInjectedNow() {
        let now: Int64 = 1_796_256_000  // 3 Dec 2026
        let day = ReadableDate.day
        XCTAssertEqual(ReadableDate.dayAndDistance(1_827_792_000, now: now), "3 Dec 2027, in 12 months")
        XCTAssertEqual(ReadableDate.relative(now + 3600, now: now), "in less than a day")
        XCTAssertEqual(ReadableDate.relative(now + day, now: now), "in 1 day")
        XCTAssertEqual(ReadableDate.relative(now + 13 * day, now: now), "in 13 days")
        XCTAssertEqual(ReadableDate.relative(now + 44 * day, now: now), "in 44 days")
        XCTAssertEqual(ReadableDate.relative(now + 61 * day, now: now), "in 2 months")
        XCTAssertEqual(ReadableDate.relative(now + 1000 * day, now: now), "in 3 years")
        XCTAssertEqual(ReadableDate.relative(now - 2 * day, now: now), "2 days ago")
        XCTAssertEqual(ReadableDate.relative(now - 60, now: now), "less than a day ago")
        XCTAssertEqual(ReadableDate.relative(1_580_515_200, now: now), "7 years ago")
    }
}
