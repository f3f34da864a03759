package responder

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// benchWriter is a ResponseWriter that discards what is written, so the
// benchmark measures the query path, not the socket.
type benchWriter struct {
	dns.ResponseWriter
	n int
}

var benchClient = &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 53000}

func (w *benchWriter) RemoteAddr() net.Addr { return benchClient }
func (w *benchWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}
func (w *benchWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	w.n += len(b)
	return err
}

// BenchmarkQueryPath compares our handler with the baseline a plain
// miekg/dns server would run (SetReply, records from a map, WriteMsg), on the
// same request. Read the ratio of the two ns/op figures.
func BenchmarkQueryPath(b *testing.B) {
	snap := fixtureSnapshot(b)
	req := new(dns.Msg)
	req.SetQuestion("webapp.gslb.example.com.", dns.TypeA)
	req.SetEdns0(1232, false)

	b.Run("opengslb", func(b *testing.B) {
		a := New(zerologNop(), storeOf(snap), "", Options{})
		w := &benchWriter{}
		b.ReportAllocs()
		for b.Loop() {
			a.ServeDNS(w, req)
		}
	})

	b.Run("baseline-miekg-map", func(b *testing.B) {
		records := map[string][]dns.RR{}
		for _, ip := range []string{"10.0.1.10", "10.0.1.11", "10.0.1.12"} {
			rr, _ := dns.NewRR("webapp.gslb.example.com. 30 IN A " + ip)
			records["webapp.gslb.example.com."] = append(records["webapp.gslb.example.com."], rr)
		}
		w := &benchWriter{}
		b.ReportAllocs()
		for b.Loop() {
			m := new(dns.Msg)
			m.SetReply(req)
			m.Authoritative = true
			m.Answer = records[req.Question[0].Name]
			_ = w.WriteMsg(m)
		}
	})
}
