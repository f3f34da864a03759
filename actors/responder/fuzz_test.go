package responder

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// FuzzQuery feeds arbitrary packets through the same path as the server:
// miekg's unpack, then our answer. Whatever arrives, the response must be a
// well-formed message for the same ID that fits the client's UDP size.
func FuzzQuery(f *testing.F) {
	seed := func(name string, qtype uint16, edns bool, ecs bool) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if edns {
			m.SetEdns0(1232, true)
			if ecs {
				opt := m.IsEdns0()
				opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: []byte{192, 0, 2, 0}})
			}
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	seed("webapp.gslb.example.com.", dns.TypeA, false, false)
	seed("WEBAPP.gslb.example.com.", dns.TypeAAAA, true, false)
	seed("weighted.gslb.example.com.", dns.TypeA, true, true)
	seed("big.gslb.example.com.", dns.TypeA, false, false)
	seed("gslb.example.com.", dns.TypeANY, true, false)
	seed("nope.gslb.example.com.", dns.TypeA, true, false)
	seed("a\\.b.gslb.example.com.", dns.TypeA, false, false)
	seed("example.org.", dns.TypeNS, false, false)

	snap := fixtureSnapshot(f)
	client := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, packet []byte, udp bool) {
		req := new(dns.Msg)
		if err := req.Unpack(packet); err != nil {
			return // miekg answers FORMERR or drops before our handler
		}
		q := parseQuery(req, client, udp)
		resp, _ := answer(snap, &q, nil)
		reply := new(dns.Msg)
		if err := reply.Unpack(resp); err != nil {
			t.Fatalf("response does not parse: %v\nquery: %v\nresponse: %x", err, req, resp)
		}
		if reply.Id != req.Id || !reply.Response {
			t.Fatalf("reply id %d response=%v for query id %d", reply.Id, reply.Response, req.Id)
		}
		if len(resp) > q.size {
			t.Fatalf("response of %d bytes exceeds the client's %d", len(resp), q.size)
		}
	})
}
