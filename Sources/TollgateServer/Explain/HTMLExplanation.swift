/// One explanation page for a person in a browser: what happened in plain words first, the facts they
/// may need to pass on, what they can do, and the operator's details folded away in a closed `<details>`.
/// Every string is plain text and escaped here, so nothing a certificate or request carries becomes markup.
/// The page reads on a phone: `width=device-width`, labels stacked over values below 600 px, and long
/// values (request ids, distinguished names, SPIFFE URIs) wrap anywhere rather than widen the page.
struct HTMLExplanation {
    struct Section: Equatable {
        var heading: String
        var paragraphs: [String]
        var items: [String] = []
    }

    struct Link: Equatable {
        var href: String
        var text: String
    }

    var title: String
    var warnings: [String] = []
    var lead: [String]
    var facts: [(String, String)] = []
    var sections: [Section] = []
    /// Buttons after the facts (the enrollment page's downloads).
    var actions: [Link] = []
    var contact: Link?
    var operatorDetails: [(String, String)] = []

    static let style = """
        :root{color-scheme:light dark}
        body{font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;overflow-wrap:anywhere}
        h1{font-size:1.6rem;line-height:1.25;margin:0 0 1rem}
        h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
        dl{margin:1.2rem 0}
        dl>div{display:grid;grid-template-columns:11rem minmax(0,1fr);gap:1rem;padding:.4rem 0;border-top:1px solid #8884}
        dt{font-weight:600}
        dd{margin:0;overflow-wrap:anywhere;min-width:0}
        ul{padding-left:1.2rem}
        .warning{border-left:4px solid #d97706;background:#fef3c7;color:#422006;padding:.6rem .8rem}
        a.contact{display:inline-block;margin:.4rem 0;padding:.55rem 1rem;border-radius:.4rem;background:#1d4ed8;color:#fff;text-decoration:none}
        details{margin-top:2rem;border-top:1px solid #8884;padding-top:.6rem}
        summary{cursor:pointer;font-weight:600}
        footer{margin:2rem 0 1rem;color:#888;font-size:.85rem}
        @media (max-width:600px){body{margin-top:1rem}dl>div{display:block}dd{margin-top:.1rem}}
        """

    func render() -> String {
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(Self.escape(title))</title>
            <style>
            \(Self.style)
            </style></head>
            <body><main>
            <h1>\(Self.escape(title))</h1>

            """
        for warning in warnings { html += "<p class=\"warning\" role=\"alert\">\(Self.escape(warning))</p>\n" }
        for paragraph in lead { html += "<p>\(Self.escape(paragraph))</p>\n" }
        html += Self.list(facts)
        for action in actions {
            html += "<p><a class=\"contact\" href=\"\(Self.escape(action.href))\">\(Self.escape(action.text))</a></p>\n"
        }
        for section in sections {
            html += "<h2>\(Self.escape(section.heading))</h2>\n"
            for paragraph in section.paragraphs { html += "<p>\(Self.escape(paragraph))</p>\n" }
            if !section.items.isEmpty {
                html += "<ul>\n" + section.items.map { "<li>\(Self.escape($0))</li>\n" }.joined() + "</ul>\n"
            }
        }
        if let contact {
            html +=
                "<p><a class=\"contact\" href=\"\(Self.escape(contact.href))\">\(Self.escape(contact.text))</a></p>\n"
        }
        if !operatorDetails.isEmpty {
            html += "<details><summary>Details for the operator</summary>\n\(Self.list(operatorDetails))</details>\n"
        }
        html += "</main><footer>Tollgate</footer></body></html>\n"
        return html
    }

    private static func list(_ rows: [(String, String)]) -> String {
        guard !rows.isEmpty else { return "" }
        return "<dl>\n" + rows.map { "<div><dt>\(escape($0.0))</dt><dd>\(escape($0.1))</dd></div>\n" }.joined()
            + "</dl>\n"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
