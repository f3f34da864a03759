package api

import (
	"net/http"
	"net/netip"
)

// servedSecurely reports whether r came over TLS or from this host, the
// two ways its bytes cannot have crossed the network in the clear.
// Handlers that hand out secrets (key material) refuse anything else.
//
// On a TLS port every request that reaches a handler passes: plain HTTP
// is served there to loopback peers only (see sniff.go). Without TLS only
// loopback peers pass. The peer is the TCP connection's, never
// X-Forwarded-For: a proxy on the same host that takes plain HTTP from
// the network would make it look local, so such a proxy must itself
// terminate TLS.
func servedSecurely(r *http.Request) bool {
	return r.TLS != nil || isLoopback(r.RemoteAddr)
}

// isLoopback reports whether hostport ("127.0.0.1:1234", "[::1]:1234")
// is in 127.0.0.0/8 or ::1. An IPv4 peer on a dual-stack socket shows as
// ::ffff:127.0.0.1 and counts; anything unparsable does not.
func isLoopback(hostport string) bool {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}
