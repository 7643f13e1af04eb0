import Foundation

/// Python's `datetime.strftime` under the C locale (what `strftime_now` calls), for the directives chat templates
/// use: `%d %b %Y` (Llama 3), `%B`, `%A`, `%H:%M`, ISO dates, glibc's `%-d` (no padding)…
func pyStrftime(_ format: String, _ date: Date, _ timeZone: TimeZone) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
    let year = c.year ?? 1970, month = c.month ?? 1, day = c.day ?? 1
    let hour = c.hour ?? 0, minute = c.minute ?? 0, second = c.second ?? 0
    let weekday0 = ((c.weekday ?? 1) - 1)  // 0 = Sunday
    let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
    let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                  "November", "December"]
    let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    let hour12 = hour % 12 == 0 ? 12 : hour % 12

    func number(_ n: Int, _ width: Int, _ flag: Character?) -> String {
        let digits = String(abs(n))
        let sign = n < 0 ? "-" : ""
        switch flag {
        case "-": return sign + digits
        case "_": return sign + String(repeating: " ", count: max(0, width - digits.count)) + digits
        default: return sign + String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
    }

    func isoWeek() -> (year: Int, week: Int) {
        var iso = Calendar(identifier: .iso8601)
        iso.timeZone = timeZone
        let comps = iso.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
        return (comps.yearForWeekOfYear ?? year, comps.weekOfYear ?? 1)
    }

    var out = ""
    let it = Array(format)
    var i = 0
    while i < it.count {
        let ch = it[i]
        guard ch == "%", i + 1 < it.count else { out.append(ch); i += 1; continue }
        i += 1
        var flag: Character? = nil
        if "-_0^#".contains(it[i]), i + 1 < it.count { flag = it[i]; i += 1 }
        let d = it[i]
        i += 1
        var piece: String
        switch d {
        case "a": piece = String(days[weekday0].prefix(3))
        case "A": piece = days[weekday0]
        case "b", "h": piece = String(months[month - 1].prefix(3))
        case "B": piece = months[month - 1]
        case "c": piece = "\(days[weekday0].prefix(3)) \(months[month - 1].prefix(3)) \(number(day, 2, "_")) \(number(hour, 2, nil)):\(number(minute, 2, nil)):\(number(second, 2, nil)) \(year)"
        case "C": piece = number(year / 100, 2, flag)
        case "d": piece = number(day, 2, flag)
        case "D": piece = "\(number(month, 2, nil))/\(number(day, 2, nil))/\(number(year % 100, 2, nil))"
        case "e": piece = number(day, 2, flag ?? "_")
        case "f": piece = number((c.nanosecond ?? 0) / 1000, 6, flag)
        case "F": piece = "\(year)-\(number(month, 2, nil))-\(number(day, 2, nil))"
        case "G": piece = String(isoWeek().year)
        case "g": piece = number(isoWeek().year % 100, 2, flag)
        case "H": piece = number(hour, 2, flag)
        case "I": piece = number(hour12, 2, flag)
        case "j": piece = number(dayOfYear, 3, flag)
        case "k": piece = number(hour, 2, flag ?? "_")
        case "l": piece = number(hour12, 2, flag ?? "_")
        case "m": piece = number(month, 2, flag)
        case "M": piece = number(minute, 2, flag)
        case "n": piece = "\n"
        case "p": piece = hour < 12 ? "AM" : "PM"
        case "P": piece = hour < 12 ? "am" : "pm"
        case "r": piece = "\(number(hour12, 2, nil)):\(number(minute, 2, nil)):\(number(second, 2, nil)) \(hour < 12 ? "AM" : "PM")"
        case "R": piece = "\(number(hour, 2, nil)):\(number(minute, 2, nil))"
        case "s": piece = String(Int(date.timeIntervalSince1970.rounded(.down)))
        case "S": piece = number(second, 2, flag)
        case "t": piece = "\t"
        case "T", "X": piece = "\(number(hour, 2, nil)):\(number(minute, 2, nil)):\(number(second, 2, nil))"
        case "u": piece = String(weekday0 == 0 ? 7 : weekday0)
        case "U": piece = number((dayOfYear + 6 - weekday0) / 7, 2, flag)
        case "V": piece = number(isoWeek().week, 2, flag)
        case "w": piece = String(weekday0)
        case "W": piece = number((dayOfYear + 6 - (weekday0 + 6) % 7) / 7, 2, flag)
        case "x": piece = "\(number(month, 2, nil))/\(number(day, 2, nil))/\(number(year % 100, 2, nil))"
        case "y": piece = number(year % 100, 2, flag)
        case "Y": piece = String(year)
        case "z":
            let seconds = timeZone.secondsFromGMT(for: date)
            piece = (seconds < 0 ? "-" : "+") + number(abs(seconds) / 3600, 2, nil) + number(abs(seconds) % 3600 / 60, 2, nil)
        case "Z": piece = timeZone.abbreviation(for: date) ?? timeZone.identifier
        case "%": piece = "%"
        default: piece = "%" + (flag.map { String($0) } ?? "") + String(d)
        }
        if flag == "^" { piece = piece.uppercased() }
        out += piece
    }
    return out
}
