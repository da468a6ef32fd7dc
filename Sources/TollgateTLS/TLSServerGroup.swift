internal import COpenSSL
import TollgateCore

/// The TLS server blocks that share one listening port, chosen per connection by SNI.
/// Immutable once built; a reload builds a new group. Connections keep their group alive.
///
/// Every connection starts on the port's own `SSL_CTX` (no certificate, so a connection that no
/// block took over cannot complete), whose client-hello callback picks the block once, before
/// OpenSSL negotiates a version or looks at sessions and tickets, and moves the connection onto
/// that block's `SSL_CTX` with all of its settings. That port context holds the session cache and
/// the ticket callback; `ResumptionDomain` keeps each block's sessions to itself.
public final class TLSServerGroup: @unchecked Sendable {
    public struct Entry: Sendable {
        /// Lower-cased host patterns (`name`, `*.suffix`, `*`) as the Gateway server lists them.
        public var hosts: [String]
        public var context: TLSServerContext

        public init(hosts: [String], context: TLSServerContext) {
            self.hosts = hosts
            self.context = context
        }
    }

    public let entries: [Entry]
    /// The same choice of block for SNI and for each request's Host.
    public let selector: ServerNameSelector
    /// The `SSL_CTX` connections are created from: the client-hello callback, the session cache and the
    /// ticket keys' callback live here.
    let portContext: OpaquePointer

    public init(_ entries: [Entry]) throws {
        precondition(!entries.isEmpty, "a TLS group needs at least one server")
        self.entries = entries
        selector = ServerNameSelector(blocks: entries.map(\.hosts))
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw TLSError("cannot create the port's SSL_CTX") }
        portContext = ctx
        _ = tg_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)
        TLSServerContext.applyConnectionDefaults(ctx)
        _ = tg_SSL_CTX_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_SERVER))
        _ = SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, sessionTicketKeyCallback)
        // One TLS 1.3 ticket per full handshake, not OpenSSL's two: OpenSSL 3.0 seals a ticket by encoding
        // the session, decoding it back into a copy and encoding that, and the decode parses the client's
        // certificate again (its key through the slow 3.0 decoder look-up): two tickets were a fifth of a full
        // handshake's CPU. A resumption gets its successor ticket (`sessionTicketKeyCallback`), so a client
        // always holds a fresh one; only a client opening parallel connections right after its first
        // handshake resumes on one of them and does a full handshake on the others.
        _ = SSL_CTX_set_num_tickets(ctx, Self.ticketsPerHandshake)
        let me = Unmanaged.passUnretained(self).toOpaque()
        SSL_CTX_set_client_hello_cb(ctx, selectServerBlock, me)
        for entry in entries {
            // After a HelloRetryRequest the second ClientHello reaches the block's context: it must name
            // the same server (RFC 8446 §4.1.2), or it could claim another name for the chosen block.
            SSL_CTX_set_client_hello_cb(entry.context.context, selectServerBlock, me)
            tg_SSL_CTX_set_servername_callback(entry.context.context, acknowledgeServerName, nil)
        }
    }

    static let ticketsPerHandshake = 1

    deinit { SSL_CTX_free(portContext) }

    /// The entry for an SNI name (see `ServerNameSelector`). Without SNI the first server answers;
    /// an SNI that no server lists is refused, as Envoy does.
    public func entryIndex(serverName: String?) -> Int? {
        selector.block(for: serverName)
    }

    /// Forgets a session the block did not fully admit (TLS 1.2 session ids; tickets are never issued for it).
    func forgetSession(of ssl: OpaquePointer) {
        if let session = SSL_get_session(ssl) { _ = SSL_CTX_remove_session(portContext, session) }
    }
}

/// OpenSSL's client-hello callback: reads SNI from the raw extension and moves the connection onto
/// the block it selects, once. A malformed SNI, one that no block serves, or a second ClientHello
/// (after HelloRetryRequest) naming another server than the first ends the handshake. The name kept
/// is the one that chose the block: what logs and policies (`connection.sni`) see, whatever a resumed
/// TLS 1.2 session remembers.
private let selectServerBlock:
    @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = {
        ssl, alert, arg in
        guard let ssl, let arg, let connection = TLSConnection.owner(of: ssl) else { return SSL_CLIENT_HELLO_ERROR }
        let group = Unmanaged<TLSServerGroup>.fromOpaque(arg).takeUnretainedValue()
        func refuse(_ code: Int32, _ reason: TLSFailure.Reason, _ text: String) -> Int32 {
            alert?.pointee = code
            connection.rejection = TLSFailure(text, reason: reason)
            return SSL_CLIENT_HELLO_ERROR
        }
        var data: UnsafePointer<UInt8>?
        var length = 0
        let serverName: String?
        if SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_server_name), &data, &length) == 1, let data {
            guard let name = try? ServerNameExtension.hostName(UnsafeRawBufferPointer(start: data, count: length))
            else {
                return refuse(SSL_AD_DECODE_ERROR, .malformedClientHello, "malformed server_name extension")
            }
            serverName = name.lowercased()
        } else {
            serverName = nil
        }
        if let chosen = connection.selection {
            guard chosen.serverName == serverName else {
                return refuse(
                    SSL_AD_ILLEGAL_PARAMETER, .malformedClientHello,
                    "the second ClientHello names another server than the first")
            }
            return SSL_CLIENT_HELLO_SUCCESS
        }
        guard let index = group.selector.block(for: serverName) else {
            return refuse(
                SSL_AD_UNRECOGNIZED_NAME, .unknownServerName, "no server block serves SNI '\(serverName ?? "")'")
        }
        guard group.entries[index].context.adopt(ssl) else {
            return refuse(SSL_AD_INTERNAL_ERROR, .other, "cannot switch to the server block")
        }
        connection.selection = (index, serverName)
        return SSL_CLIENT_HELLO_SUCCESS
    }

/// The block was chosen in the client-hello callback; acknowledging SNI keeps the name with TLS 1.2
/// sessions, as OpenSSL does only when a servername callback accepts it.
private let acknowledgeServerName:
    @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = {
        _, _, _ in SSL_TLSEXT_ERR_OK
    }
