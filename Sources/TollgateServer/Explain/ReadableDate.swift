/// Dates as a person reads them ("3 Dec 2027", "in 12 months"), in UTC, from seconds since 1970.
/// Pure: "now" is always passed in, so the words are the same in tests on any day.
enum ReadableDate {
    static let day: Int64 = 86_400

    /// `3 Dec 2027`.
    static func calendarDay(_ epoch: Int64) -> String {
        let (year, month, dayOfMonth) = civil(daysSince1970: floorDivide(epoch, day))
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(dayOfMonth) \(months[month - 1]) \(year)"
    }

    /// `in 5 days`, `in 12 months`, `in 3 years`, `2 days ago`, `in less than a day`.
    static func relative(_ epoch: Int64, now: Int64) -> String {
        let delta = epoch - now
        let span = phrase(days: (delta >= 0 ? delta : -delta) / day)
        guard let span else { return delta >= 0 ? "in less than a day" : "less than a day ago" }
        return delta >= 0 ? "in \(span)" : "\(span) ago"
    }

    /// `3 Dec 2027, in 12 months`.
    static func dayAndDistance(_ epoch: Int64, now: Int64) -> String {
        "\(calendarDay(epoch)), \(relative(epoch, now: now))"
    }

    private static func phrase(days: Int64) -> String? {
        func counted(_ n: Int64, _ unit: String) -> String { "\(n) \(unit)\(n == 1 ? "" : "s")" }
        if days == 0 { return nil }
        if days < 45 { return counted(days, "day") }
        let months = Int64((Double(days) / 30.44).rounded())
        if months < 24 { return counted(months, "month") }
        return counted(Int64((Double(days) / 365.25).rounded()), "year")
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    /// Proleptic Gregorian date of a day count (H. Hinnant's `civil_from_days`).
    static func civil(daysSince1970 days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let dayOfMonth = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, dayOfMonth)
    }
}
