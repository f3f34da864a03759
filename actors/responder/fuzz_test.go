package responder

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/actors/zone"
)

// FuzzQuery feeds arbitrary packets through both transports' paths: the
// UDP worker (fast parser, or miekg/dns's parser for anything unusual) and
// the TCP handler's parse and answer. Whatever arrives, a query gets a
// well-formed reply with its ID that fits the transport, and the fast
// parser never disagrees with miekg/dns.
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
	worker := newUDPWorker(New(zerolog.Nop(), zone.StoreOf(snap), "", Options{}), nil)
	f.Fuzz(func(t *testing.T, packet []byte, udp bool) {
		// The fast parser either declines or agrees with miekg/dns.
		checkFastMatchesSlow(t, packet)

		if udp {
			resp := worker.handle(packet, client)
			if resp == nil {
				if len(packet) >= headerLen && packet[2]&0x80 == 0 {
					t.Fatalf("a query was dropped: %x", packet)
				}
				return
			}
			checkReply(t, packet, resp, maxUDPSize)
			return
		}
		req := new(dns.Msg)
		if err := req.Unpack(packet); err != nil {
			return // miekg's TCP server answers FORMERR before our handler
		}
		q := parseQuery(req, client, false)
		resp, _ := answer(snap, &q, nil)
		checkReply(t, packet, resp, dns.MaxMsgSize)
	})
}

// checkReply asserts what any client may rely on: the reply parses, is a
// response, and carries the query's ID, within the size allowed.
func checkReply(t *testing.T, packet, resp []byte, limit int) {
	t.Helper()
	reply := new(dns.Msg)
	if err := reply.Unpack(resp); err != nil {
		t.Fatalf("response does not parse: %v\nquery: %x\nresponse: %x", err, packet, resp)
	}
	if id := uint16(packet[0])<<8 | uint16(packet[1]); reply.Id != id || !reply.Response {
		t.Fatalf("reply id %d response=%v for query id %d", reply.Id, reply.Response, id)
	}
	if len(resp) > limit {
		t.Fatalf("response of %d bytes exceeds %d", len(resp), limit)
	}
}
