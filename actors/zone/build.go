package zone

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/miekg/dns"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
)

// Apex record timings. The SOA's timers matter only to secondaries, which a
// GSLB zone does not have; the NS TTL is long because the set rarely changes.
const (
	soaTTL     = 300
	nsTTL      = 3600
	soaRefresh = 3600
	soaRetry   = 600
	soaExpire  = 86400
)

// Build prepares a snapshot of every zone and domain in cfg with the health
// states known now. It does not publish it.
func Build(cfg *config.Config, health map[messages.BackendKey]messages.HealthState, serial uint32, generation uint64, now time.Time) (*Snapshot, error) {
	snap := &Snapshot{
		Serial:     serial,
		Generation: generation,
		Built:      now,
		names:      make(map[string]*Node),
	}
	for _, name := range cfg.DNS.Zones {
		z, err := buildZone(cfg.DNS, name, serial)
		if err != nil {
			return nil, err
		}
		snap.zones = append(snap.zones, z)
		snap.names[z.Name] = &Node{Zone: z, Apex: true}
	}
	sort.SliceStable(snap.zones, func(i, j int) bool {
		return dns.CountLabel(snap.zones[i].Name) > dns.CountLabel(snap.zones[j].Name)
	})

	byService := make(map[string][]config.Backend)
	for _, b := range cfg.Backends {
		byService[b.Service] = append(byService[b.Service], b)
	}
	for _, dc := range cfg.Domains {
		zone, _ := snap.Lookup(dc.Name)
		if zone == nil {
			return nil, fmt.Errorf("domain %s lies in no configured zone", dc.Name)
		}
		d, err := buildDomain(dc, byService[dc.Service], health)
		if err != nil {
			return nil, err
		}
		snap.domains = append(snap.domains, d)
		snap.names[d.Name] = &Node{Zone: zone, Domain: d}
	}
	// Names between a domain and its zone's apex exist without data
	// (empty non-terminals, RFC 8020): they answer NODATA, not NXDOMAIN.
	for _, d := range snap.domains {
		zone := snap.names[d.Name].Zone
		for name := parent(d.Name); name != zone.Name && inZone(name, zone.Name); name = parent(name) {
			if _, ok := snap.names[name]; !ok {
				snap.names[name] = &Node{Zone: zone}
			}
		}
	}
	return snap, nil
}

func parent(name string) string {
	i := strings.IndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return "."
	}
	return name[i+1:]
}

func buildZone(cfg config.DNS, name string, serial uint32) (*Zone, error) {
	nameservers := cfg.NameserversFor(name)
	if len(nameservers) == 0 {
		return nil, fmt.Errorf("zone %s has no nameserver", name)
	}
	negTTL := cfg.NegativeTTL
	soa := &dns.SOA{
		Hdr:     dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: soaTTL},
		Ns:      dns.Fqdn(nameservers[0]),
		Mbox:    dns.Fqdn(cfg.HostmasterFor(name)),
		Serial:  serial,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  negTTL,
	}
	z := &Zone{Name: name}
	var err error
	if z.SOA, err = packAfter(name, []dns.RR{soa}, true); err != nil {
		return nil, err
	}
	var ns []dns.RR
	for _, host := range nameservers {
		ns = append(ns, &dns.NS{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: nsTTL},
			Ns:  dns.Fqdn(host),
		})
	}
	if z.NS, err = packAfter(name, ns, true); err != nil {
		return nil, err
	}
	// RFC 2308 §5: a negative answer is cached for the lesser of the SOA's
	// TTL and its MINIMUM field.
	negative := *soa
	negative.Hdr.Ttl = min(soaTTL, negTTL)
	if z.NegativeSOA, err = packAfter(name, []dns.RR{&negative}, false); err != nil {
		return nil, err
	}
	return z, nil
}

func buildDomain(dc config.Domain, backends []config.Backend, health map[messages.BackendKey]messages.HealthState) (*Domain, error) {
	d := &Domain{
		Name:     dc.Name,
		Service:  dc.Service,
		Routing:  dc.Routing,
		TTL:      dc.TTL,
		Fallback: dc.Fallback,
		fallbackAnswers: metrics.GetOrCreateCounter(
			fmt.Sprintf(`opengslb_dns_fallback_answers_total{domain=%q}`, dc.Name)),
	}
	var healthy []config.Backend
	for _, b := range backends {
		addr, err := netip.ParseAddr(b.Address)
		if err != nil {
			return nil, fmt.Errorf("domain %s: backend %s: %w", dc.Name, b.Address, err)
		}
		state := health[messages.BackendKey{Service: b.Service, Address: addr.Unmap(), Port: b.Port}]
		if state == messages.HealthHealthy {
			healthy = append(healthy, b)
		}
		d.Backends = append(d.Backends, BackendView{
			Address: b.Address, Port: b.Port, Weight: b.Weight, Priority: b.Priority,
			Region: b.Region, State: state.String(), Served: state == messages.HealthHealthy,
		})
	}
	candidates := healthy
	if len(healthy) == 0 {
		d.FallbackActive = true
		switch dc.Fallback {
		case config.FallbackServfail:
			d.A = Answer{kind: choiceFail, Fallback: true}
			d.AAAA = d.A
			return d, nil
		case config.FallbackNodata:
			d.A = Answer{kind: choiceNone, Fallback: true}
			d.AAAA = d.A
			return d, nil
		default:
			// Fail open: a backend that merely looks down to us beats
			// telling every client that the service does not exist.
			candidates = backends
			for i := range d.Backends {
				d.Backends[i].Served = true
			}
		}
	}
	var v4, v6 []config.Backend
	for _, b := range candidates {
		if addr, _ := netip.ParseAddr(b.Address); addr.Unmap().Is4() {
			v4 = append(v4, b)
		} else {
			v6 = append(v6, b)
		}
	}
	var err error
	if d.A, err = buildAnswer(dc, v4, dns.TypeA); err != nil {
		return nil, err
	}
	if d.AAAA, err = buildAnswer(dc, v6, dns.TypeAAAA); err != nil {
		return nil, err
	}
	d.A.Fallback = d.FallbackActive
	d.AAAA.Fallback = d.FallbackActive
	return d, nil
}

func buildAnswer(dc config.Domain, backends []config.Backend, qtype uint16) (Answer, error) {
	if len(backends) == 0 {
		return Answer{kind: choiceNone}, nil
	}
	switch dc.Routing {
	case config.RoutingFailover:
		primary := backends[0].Priority
		for _, b := range backends {
			primary = min(primary, b.Priority)
		}
		var chosen []config.Backend
		for _, b := range backends {
			if b.Priority == primary {
				chosen = append(chosen, b)
			}
		}
		set, err := packAddresses(dc, chosen, qtype)
		return Answer{kind: choiceFixed, variants: []RRSet{set}}, err

	case config.RoutingWeighted:
		weighted := backends[:0:0]
		for _, b := range backends {
			if b.Weight > 0 {
				weighted = append(weighted, b)
			}
		}
		equal := len(weighted) == 0
		if equal {
			// Every weight is zero: share equally rather than answer
			// nothing, since the operator kept these backends in.
			weighted = backends
		}
		a := Answer{kind: choiceWeight, DependsOnClient: len(weighted) > 1}
		var sum uint64
		for _, b := range weighted {
			set, err := packAddresses(dc, []config.Backend{b}, qtype)
			if err != nil {
				return Answer{}, err
			}
			w := uint64(b.Weight)
			if equal {
				w = 1
			}
			sum += w
			a.variants = append(a.variants, set)
			a.cumulative = append(a.cumulative, sum)
		}
		return a, nil

	default: // round-robin
		a := Answer{kind: choiceRotate, next: new(atomic.Uint64)}
		if len(backends) == 1 {
			a.kind = choiceFixed
		}
		for i := range backends {
			rotated := append(append([]config.Backend{}, backends[i:]...), backends[:i]...)
			set, err := packAddresses(dc, rotated, qtype)
			if err != nil {
				return Answer{}, err
			}
			a.variants = append(a.variants, set)
		}
		return a, nil
	}
}

// packAddresses packs one A or AAAA record per backend. Backends that share
// an address (different ports of one host) yield one record: a DNS answer
// cannot carry a port, and a duplicate record is invalid in an RRset.
func packAddresses(dc config.Domain, backends []config.Backend, qtype uint16) (RRSet, error) {
	seen := make(map[string]bool, len(backends))
	var rrs []dns.RR
	for _, b := range backends {
		if seen[b.Address] {
			continue
		}
		seen[b.Address] = true
		hdr := dns.RR_Header{Name: dc.Name, Rrtype: qtype, Class: dns.ClassINET, Ttl: dc.TTL}
		ip := net.ParseIP(b.Address)
		if qtype == dns.TypeA {
			rrs = append(rrs, &dns.A{Hdr: hdr, A: ip.To4()})
		} else {
			rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: ip.To16()})
		}
	}
	return packAfter(dc.Name, rrs, true)
}
