import TollgateCore

/// The page an enrollment link opens: what it installs, per platform how, and the downloads. Pure.
enum EnrollmentPage {
    static func instructions(_ pending: PendingEnrollment, token: String, host: String, now: Int64) -> [UInt8] {
        let base = "/.tollgate/enroll/\(token)"
        let site = "https://\(host)/"
        let page = HTMLExplanation(
            title: "Add this device",
            lead: [
                "This link installs the certificate “\(pending.name)” on this device, so that it can open \(site). It works once: the download below uses it up, and nobody else can use it afterwards.",
                "You need the one-time password that was given to you with this link; it is not on this page.",
            ],
            facts: [
                ("Device certificate", pending.name),
                ("Principal", pending.principal),
                ("Link expires", ReadableDate.dayAndDistance(pending.expires, now: now)),
                ("Certificate valid until", ReadableDate.dayAndDistance(pending.certificateNotAfter, now: now)),
            ],
            sections: [
                HTMLExplanation.Section(
                    heading: "iPhone and iPad",
                    paragraphs: ["Open this page in Safari, then:"],
                    items: [
                        "Tap “Download the certificate”, then Allow.",
                        "Open Settings → General → VPN & Device Management (or “Profile Downloaded” at the top of Settings), choose the profile and tap Install.",
                        "Enter the device passcode, then the one-time password.",
                    ]),
                HTMLExplanation.Section(
                    heading: "Mac (Safari, Chrome, Edge)",
                    paragraphs: [],
                    items: [
                        "Download the certificate and open the file: Keychain Access adds it to the login keychain after you enter the one-time password.",
                        "If the browser says the site is not trusted, download the CA certificate, open it, and in Keychain Access set it to Always Trust.",
                    ]),
                HTMLExplanation.Section(
                    heading: "Android",
                    paragraphs: [],
                    items: [
                        "Download the certificate.",
                        "Open Settings → Security → Encryption & credentials → Install a certificate → VPN & app user certificate, and pick the downloaded file; enter the one-time password.",
                        "If the site is not trusted, install the CA certificate the same way under “CA certificate”.",
                    ]),
                HTMLExplanation.Section(
                    heading: "Windows (Chrome, Edge)",
                    paragraphs: [],
                    items: [
                        "Download the certificate and open it: the Certificate Import Wizard starts. Choose Current User, enter the one-time password, and let Windows choose the store."
                    ]),
                HTMLExplanation.Section(
                    heading: "Linux (Chrome, Chromium)",
                    paragraphs: [],
                    items: [
                        "Download the certificate, then open Settings → Privacy and security → Security → Manage certificates → Your certificates → Import, and enter the one-time password."
                    ]),
                HTMLExplanation.Section(
                    heading: "Firefox (any system)",
                    paragraphs: [],
                    items: [
                        "Download the certificate, then open Settings → Privacy & Security → Certificates → View Certificates → Your Certificates → Import, and enter the one-time password.",
                        "If the site is not trusted, import the CA certificate under Authorities.",
                    ]),
                HTMLExplanation.Section(
                    heading: "Then",
                    paragraphs: [
                        "Quit and restart the browser, open \(site), and choose “\(pending.principal)” when the browser asks for a certificate."
                    ]),
            ])
        var withDownloads = page
        withDownloads.actions = [
            HTMLExplanation.Link(href: "\(base)/bundle.p12", text: "Download the certificate (uses the link up)"),
            HTMLExplanation.Link(href: "\(base)/ca.crt", text: "Download the CA certificate"),
        ]
        return Array(withDownloads.render().utf8)
    }

    /// The one answer for every link that opens nothing — unknown, used, expired or mistyped — so the
    /// answer tells a guesser nothing.
    static let invalid = Array(
        HTMLExplanation(
            title: "This link does not work",
            lead: [
                "This enrollment link was used already, has expired, or was mistyped. Each link works once and only for a short time.",
                "Ask whoever sent it for a new one.",
            ]
        ).render().utf8)
}
