package responder

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/actors/zone"
)

// benchWriter is a ResponseWriter that discards what is written, so the
// benchmark measures the query path, not the socket.
type benchWriter struct {
	dns.ResponseWriter
	n int
}

var benchClient = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 53000}

func (w *benchWriter) RemoteAddr() net.Addr { return benchClient }
func (w *benchWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

// BenchmarkQueryPath measures, from the request's bytes to the response's
// bytes, the work a server does per query apart from the socket:
//
//   - udp: our UDP worker (fast parse, snapshot lookup, prepared records);
//   - tcp-handler: our miekg/dns handler as TCP uses it (miekg unpacks);
//   - baseline-miekg-map: what a plain miekg/dns server does: Unpack,
//     SetReply, records from a map, Pack.
//
// Compare the ns/op of each with the baseline's in the same run.
func BenchmarkQueryPath(b *testing.B) {
	snap := fixtureSnapshot(b)
	req := new(dns.Msg)
	req.SetQuestion("webapp.gslb.example.com.", dns.TypeA)
	req.SetEdns0(1232, false)
	packet, err := req.Pack()
	if err != nil {
		b.Fatal(err)
	}

	b.Run("udp", func(b *testing.B) {
		w := newUDPWorker(New(zerolog.Nop(), zone.StoreOf(snap), "", Options{}), nil)
		client := netip.MustParseAddr("192.0.2.1")
		b.ReportAllocs()
		for b.Loop() {
			if w.handle(packet, client) == nil {
				b.Fatal("no response")
			}
		}
	})

	b.Run("tcp-handler", func(b *testing.B) {
		a := New(zerolog.Nop(), zone.StoreOf(snap), "", Options{})
		w := &benchWriter{}
		b.ReportAllocs()
		for b.Loop() {
			m := new(dns.Msg)
			if err := m.Unpack(packet); err != nil {
				b.Fatal(err)
			}
			a.ServeDNS(w, m)
		}
	})

	b.Run("baseline-miekg-map", func(b *testing.B) {
		records := map[string][]dns.RR{}
		for _, ip := range []string{"10.0.1.10", "10.0.1.11", "10.0.1.12"} {
			rr, _ := dns.NewRR("webapp.gslb.example.com. 30 IN A " + ip)
			records["webapp.gslb.example.com."] = append(records["webapp.gslb.example.com."], rr)
		}
		out := make([]byte, 0, 4096)
		b.ReportAllocs()
		for b.Loop() {
			m := new(dns.Msg)
			if err := m.Unpack(packet); err != nil {
				b.Fatal(err)
			}
			r := new(dns.Msg)
			r.SetReply(m)
			r.Authoritative = true
			r.Answer = records[m.Question[0].Name]
			if _, err := r.PackBuffer(out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
