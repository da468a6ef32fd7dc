/// YAML used by the integration tests, kept next to them so each scenario reads as a whole.
public enum Manifests {
    public static let host = "istio-server-mtls.dev.lab.jinsu.me"

    public static func gateway(
        mode: String, credential: String = "server-tls", hosts: [String] = [host], port: Int = 443,
        extraTLS: String = ""
    ) -> String {
        """
        apiVersion: networking.istio.io/v1alpha3
        kind: Gateway
        metadata:
          namespace: istio-system
          name: mtls-gateway
        spec:
          selector:
            istio: ingressgateway
          servers:
            - hosts: [\(hosts.map { "'\($0)'" }.joined(separator: ", "))]
              port:
                number: \(port)
                name: https
                protocol: HTTPS
              tls:
                mode: \(mode)
                credentialName: \(credential)\(extraTLS)
        """
    }

    /// A plain-HTTP server to append to `gateway(...)`'s servers, answering or redirecting to HTTPS.
    public static func plainHTTPServer(hosts: [String] = [host], port: Int = 80, httpsRedirect: Bool = false)
        -> String
    {
        """

            - hosts: [\(hosts.map { "'\($0)'" }.joined(separator: ", "))]
              port: {number: \(port), name: http, protocol: HTTP}
        """ + (httpsRedirect ? "\n      tls: {httpsRedirect: true}" : "")
    }

    public static func virtualService(
        hosts: [String] = [host], destination: String = "server", port: Int = 80, extraRoute: String = "",
        routes: String? = nil
    ) -> String {
        """
        apiVersion: networking.istio.io/v1alpha3
        kind: VirtualService
        metadata:
          name: server
        spec:
          hosts: [\(hosts.map { "'\($0)'" }.joined(separator: ", "))]
          gateways:
          - istio-system/mtls-gateway
          http:
        \(routes ?? """
            - match:
                - uri:
                    prefix: /
              route:
                - destination:
                    host: \(destination)
                    port:
                      number: \(port)\(extraRoute)
        """)
        """
    }
}
