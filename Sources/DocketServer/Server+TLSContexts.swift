import DocketTLS

/// The TLS contexts docketd makes from certificate and key files for its cluster: the ones the
/// start makes, in one place, so that a reload can make them again the same way.
extension Server {
    /// The cluster listener's context (it verifies the peer) and the one for routes this node
    /// makes (it verifies the peer and its name, and shows the same certificate).
    static func routeTLSContexts(_ settings: TLSSettings) throws -> (accept: TLSContext, connect: TLSContext) {
        let accept = try tlsContext(settings, for: "cluster.tls")
        do {
            return (accept, try TLSContext.client(caFile: settings.caFile, certificate: settings.certificateFile, key: settings.keyFile))
        } catch {
            throw ServerError("cluster.tls: \(error)")
        }
    }

    /// The nats cluster link's context (`docket.cluster_tls`).
    static func clusterLinkTLSContext(_ settings: ClusterTLSSettings) throws -> TLSContext {
        do {
            return try TLSContext.client(caFile: settings.caFile, certificate: settings.certificateFile, key: settings.keyFile)
        } catch {
            throw ServerError("cluster TLS: \(error)")
        }
    }
}
