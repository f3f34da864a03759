package responder

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/actors/zone"
)

// Query counters are labelled by qtype and rcode. Creating a labelled
// counter means formatting its name and a map lookup, too slow for every
// query, so each (qtype, rcode) counter is created on first use and then
// found by array index.
var qtypeLabels = [...]uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeSOA, dns.TypeNS, dns.TypeANY, dns.TypeCNAME,
	dns.TypeMX, dns.TypeTXT, dns.TypePTR, dns.TypeSRV, dns.TypeCAA, dns.TypeHTTPS,
	dns.TypeSVCB, dns.TypeDNSKEY, dns.TypeDS, dns.TypeAXFR, dns.TypeIXFR,
}

// rcodeSlots covers every rcode we send, BADVERS (16) included.
const rcodeSlots = 24

var (
	qtypeIndex [65536]uint8 // 0 = other, i+1 = qtypeLabels[i]
	counters   [len(qtypeLabels) + 1][rcodeSlots]atomic.Pointer[metrics.Counter]

	queryDuration  = metrics.NewPrometheusHistogram(`opengslb_dns_query_duration_seconds`)
	queryPanics    = metrics.NewCounter(`opengslb_dns_panics_total`)
	malformed      = metrics.NewCounter(`opengslb_dns_malformed_total`)
	truncatedTotal = metrics.NewCounter(`opengslb_dns_truncated_total`)
)

func init() {
	for i, t := range qtypeLabels {
		qtypeIndex[t] = uint8(i + 1)
	}
}

func countQuery(qtype uint16, rcode int) {
	qi := qtypeIndex[qtype]
	if rcode < 0 || rcode >= rcodeSlots {
		rcode = dns.RcodeServerFailure
	}
	slot := &counters[qi][rcode]
	c := slot.Load()
	if c == nil {
		qname := "OTHER"
		if qi > 0 {
			qname = dns.TypeToString[qtype]
		}
		rname, ok := dns.RcodeToString[rcode]
		if !ok {
			rname = fmt.Sprintf("RCODE%d", rcode)
		}
		c = metrics.GetOrCreateCounter(fmt.Sprintf(`opengslb_dns_queries_total{qtype=%q,rcode=%q}`, qname, rname))
		slot.Store(c)
	}
	c.Inc()
}

// respond answers q from the current snapshot into buf and records what it
// did: the rcode by qtype, truncation, and the time since started.
func respond(store *zone.Store, q *query, buf []byte, started time.Time) []byte {
	resp, rcode := answer(store.Load(), q, buf)
	if resp[2]&0x02 != 0 {
		truncatedTotal.Inc()
	}
	countQuery(q.qtype, rcode)
	queryDuration.UpdateDuration(started)
	return resp
}
