package zone

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/config"
)

// FuzzNameErrorProof proves odd missing names (long, many labels, escaped
// and binary octets) with records that are signed and that match and
// cover what RFC 5155 and RFC 4035 require, under NSEC3 and NSEC alike.
func FuzzNameErrorProof(f *testing.F) {
	for _, seed := range []string{"x", "a.b.c", "\\.", "\\000\\255", strings.Repeat("a", 63), strings.Repeat("b.", 60) + "c", "*", "deep", "z.deep", "WEBAPP.x"} {
		f.Add(seed)
	}
	s := newTestSigner(f, "gslb.example.com.")
	snaps := []*Snapshot{signedSnapshot(f, s, config.DenialNSEC3), signedSnapshot(f, s, config.DenialNSEC)}
	f.Fuzz(func(t *testing.T, prefix string) {
		name, ok := canonicalQueryName(prefix + ".gslb.example.com.")
		if !ok {
			return
		}
		for _, snap := range snaps {
			checkNameError(t, snap, s, name)
		}
	})
}

// canonicalQueryName is name as the responder sees it: packed, unpacked by
// miekg/dns (which escapes what needs escaping) and lower-cased.
func canonicalQueryName(name string) (string, bool) {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		return "", false
	}
	out, _, err := dns.UnpackDomainName(buf[:n], 0)
	if err != nil {
		return "", false
	}
	return strings.ToLower(out), true
}
