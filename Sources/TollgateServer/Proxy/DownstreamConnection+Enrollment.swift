import Dispatch
import TollgateCore
import TollgatePlanner

/// For HTTP/1.1 connections and HTTP/2 streams alike: a browser fetching its link negotiates h2.
extension ExchangeOwner {
    /// A client without a certificate on a block that admits such clients only for enrollment: every path
    /// but the enrollment links gets this, in the words of the TLS refusal, and the connection closes.
    func refuseWithoutCertificate() {
        guard let exchange else { return }
        keepAlive = false
        exchange.responseDetails = "client_certificate_required"
        connection.logger.info(
            "request without a client certificate refused",
            metadata: [
                "request.id": "\(exchange.requestID)", "peer.address": "\(connection.peerHost)",
                "request.path": "\(EnrollmentRequest.redacted(exchange.normalizedPath))",
            ])
        respond(
            status: 403, body: Array("client certificate required\n".utf8), contentType: "text/plain",
            extraHeaders: [("cache-control", "no-store")])
    }

    /// An enrollment link: counted against the client's address, then looked up (and, for the bundle,
    /// burned) off the loop on the desk's queue, since it reads and renames files; the answer comes back to
    /// the loop. The
    /// exchange holds the connection meanwhile, so no later request on it is read before this one ends.
    func serveEnrollment(_ request: EnrollmentRequest) {
        guard let exchange else { return }
        let desk = connection.runtime.enrollment
        let client = request.client?.description ?? connection.peerHost
        exchange.responseDetails = "enrollment"
        guard
            desk.limiter.admit(
                EnrollmentRateLimiter.key(request.client) ?? connection.peerHost, nowNanos: Clock.nowNanos())
        else {
            connection.logger.warning(
                "enrollment attempt refused: too many attempts", metadata: ["peer.address": "\(client)"])
            exchange.responseDetails = "enrollment_rate_limited"
            keepAlive = false
            respond(
                status: 429, body: Array("too many attempts; try again later\n".utf8), contentType: "text/plain",
                extraHeaders: [("retry-after", "\(desk.limiter.refillSeconds)"), ("cache-control", "no-store")])
            return
        }
        guard let token = request.token, let resource = request.resource else {
            enrollmentRefused(client: client, reason: "malformed link")
            return
        }
        // HEAD gets the headers of the bundle without burning the link for a body it would not receive.
        let burns = resource == .bundle && !exchange.isHead
        let loop = connection.loop
        let host = exchange.head.authority ?? ""
        desk.queue.async {
            let now = Clock.epochSeconds()
            let lookup = burns ? desk.store.claim(token: token, now: now) : desk.store.look(token: token, now: now)
            loop.execute { [self] in
                guard self.exchange === exchange else { return }
                enrollmentLooked(lookup, resource: resource, token: token, host: host, client: client, now: now)
            }
        }
    }

    private func enrollmentLooked(
        _ lookup: EnrollmentStore.Lookup, resource: EnrollmentRequest.Resource, token: String, host: String,
        client: String, now: Int64
    ) {
        let pending: PendingEnrollment
        switch lookup {
        case .found(let found): pending = found
        case .unknown: return enrollmentRefused(client: client, reason: "unknown or used token")
        case .expired(let expired):
            return enrollmentRefused(client: client, reason: "expired token", name: expired.name)
        case .unavailable(let reason):
            connection.logger.error("enrollment unavailable", metadata: ["reason": "\(reason)"])
            exchange?.responseDetails = "enrollment_unavailable"
            return respond(
                status: 503, body: Array("enrollment is unavailable\n".utf8), contentType: "text/plain",
                extraHeaders: [("cache-control", "no-store")])
        }
        let headers = [("cache-control", "no-store"), ("referrer-policy", "no-referrer"), ("x-robots-tag", "noindex")]
        switch resource {
        case .page:
            respond(
                status: 200, body: EnrollmentPage.instructions(pending, token: token, host: host, now: now),
                contentType: "text/html; charset=utf-8", extraHeaders: headers)
        case .caCertificate:
            respond(
                status: 200, body: Array(pending.caCertificate.utf8), contentType: "application/x-x509-ca-cert",
                extraHeaders: headers + [("content-disposition", "attachment; filename=\"ca.crt\"")])
        case .bundle:
            if exchange?.isHead == false {
                exchange?.responseDetails = "enrolled"
                connection.logger.notice(
                    "device enrolled",
                    metadata: [
                        "enrollment.name": "\(pending.name)", "peer.principal": "\(pending.principal)",
                        "peer.address": "\(client)",
                    ])
            }
            let fileName = pending.name.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
            respond(
                status: 200, body: Base64.decode(pending.bundle) ?? [], contentType: "application/x-pkcs12",
                extraHeaders: headers + [("content-disposition", "attachment; filename=\"\(fileName).p12\"")])
        }
    }

    private func enrollmentRefused(client: String, reason: String, name: String? = nil) {
        connection.logger.warning(
            "enrollment link refused",
            metadata: ["peer.address": "\(client)", "reason": "\(reason)", "enrollment.name": "\(name ?? "-")"])
        exchange?.responseDetails = "enrollment_refused"
        respond(
            status: 404, body: EnrollmentPage.invalid, contentType: "text/html; charset=utf-8",
            extraHeaders: [("cache-control", "no-store")])
    }
}

/// What the gateway needs to serve enrollment links: the pending ones, the attempt counter, and one serial
/// queue for their file work, so a flood of attempts from many addresses queues up instead of taking threads.
final class EnrollmentDesk: Sendable {
    let store: EnrollmentStore
    let limiter: EnrollmentRateLimiter
    let queue = DispatchQueue(label: "tollgate.enrollment")

    init(store: EnrollmentStore, limiter: EnrollmentRateLimiter = EnrollmentRateLimiter()) {
        self.store = store
        self.limiter = limiter
    }
}
