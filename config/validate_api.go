package config

import (
	"crypto/tls"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// api checks the API's access rules and puts allowed_networks in
// canonical form. A certificate pair is loaded here so a typo in a path is
// a config error with its line, not a failure at the first request.
func (v *validator) api(a *API) {
	for i, n := range a.AllowedNetworks {
		path := "api.allowed_networks." + strconv.Itoa(i)
		p, err := netip.ParsePrefix(strings.TrimSpace(n))
		if err != nil {
			if addr, aerr := netip.ParseAddr(strings.TrimSpace(n)); aerr == nil {
				p = netip.PrefixFrom(addr, addr.BitLen())
			} else {
				v.p.add(path, "%q is not a CIDR network (like 10.0.0.0/8) or an address", n)
				continue
			}
		}
		a.AllowedNetworks[i] = p.Masked().String()
	}
	switch {
	case a.TLSCertFile == "" && a.TLSKeyFile == "":
	case a.TLSCertFile == "" || a.TLSKeyFile == "":
		v.p.add("api", "tls_cert_file and tls_key_file go together: set both for HTTPS, or neither")
	default:
		if _, err := tls.LoadX509KeyPair(a.TLSCertFile, a.TLSKeyFile); err != nil {
			v.p.add("api.tls_cert_file", "cannot load the certificate pair %s / %s: %v", a.TLSCertFile, a.TLSKeyFile, err)
		}
	}
	if v.defined("api.auth_token") {
		switch n := utf8.RuneCountInString(a.AuthToken); {
		case strings.TrimSpace(a.AuthToken) == "":
			v.p.add("api.auth_token", "must not be empty when set (leave the key out to allow loopback writes only)")
		case n < MinTokenLength:
			v.p.add("api.auth_token", "the token is %d characters long; it must be at least %d (the token is not shown)", n, MinTokenLength)
		}
	}
}
