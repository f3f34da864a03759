package zone

import (
	"fmt"

	"github.com/miekg/dns"
)

// packAfter packs rrs as the answer section of a message whose question is
// owner, and returns only the records' bytes. With compress, owner names
// become pointers to offset 12 and names in the data may point into the
// question or earlier records: such bytes are valid only right after a
// question of the same length as owner, which is how the responder writes
// them (a client's question differs from owner only in letter case). Without
// compress, the bytes are valid anywhere in a message.
func packAfter(owner string, rrs []dns.RR, compress bool) (RRSet, error) {
	if len(rrs) == 0 {
		return RRSet{}, nil
	}
	m := &dns.Msg{Compress: compress}
	m.Question = []dns.Question{{Name: owner, Qtype: rrs[0].Header().Rrtype, Qclass: dns.ClassINET}}
	m.Answer = rrs
	wire, err := m.Pack()
	if err != nil {
		return RRSet{}, fmt.Errorf("pack %d records for %s: %w", len(rrs), owner, err)
	}
	start := 12 + nameWireLen(owner) + 4
	out := make([]byte, len(wire)-start)
	copy(out, wire[start:])
	return RRSet{Wire: out, Count: uint16(len(rrs))}, nil
}

// nameWireLen is the uncompressed wire length of a fully qualified name.
func nameWireLen(name string) int {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		return 0
	}
	return n
}
