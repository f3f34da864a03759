package zone

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
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

// Input is everything a snapshot is built from.
type Input struct {
	Config *config.Config
	// Health holds this node's own verdicts: static backends' checks and
	// the validation of agent-reported backends.
	Health map[messages.BackendKey]messages.HealthState
	// Agents are the backends agents report now, one entry per backend.
	Agents []AgentBackend
	// Cold is true while the overwatch has not yet heard the cluster's
	// state: an agent-backed name with nothing to serve answers SERVFAIL
	// (resolvers ask the next nameserver) rather than a negative answer
	// they would cache.
	Cold bool
	// Overrides are the operator's decisions; those expired at Now are
	// ignored.
	Overrides []messages.Override
	Now       time.Time
	// Sign, when set, signs the snapshot's record sets (see SignFunc);
	// nil serves every zone unsigned. Denial is config.DenialNSEC3 or
	// config.DenialNSEC.
	Sign   SignFunc
	Denial string
}

// AgentBackend is one backend an agent reported, as the zone holds it.
type AgentBackend struct {
	Agent    string
	Service  string
	Backend  messages.AgentBackend
	Received time.Time
	Stale    bool
}

// Build prepares a snapshot of every zone and domain from in. It does not
// publish it.
func Build(in Input, serial uint32, generation uint64, now time.Time) (*Snapshot, error) {
	cfg := in.Config
	snap := &Snapshot{
		Serial:     serial,
		Generation: generation,
		Built:      now,
		Warm:       !in.Cold,
		names:      make(map[string]*Node),
		overrides:  in.Overrides,
	}
	apexes := make(map[*Zone]apexSets, len(cfg.DNS.Zones))
	for _, name := range cfg.DNS.Zones {
		z, sets, err := buildZone(cfg.DNS, name, serial)
		if err != nil {
			return nil, err
		}
		apexes[z] = sets
		snap.zones = append(snap.zones, z)
		snap.names[z.Name] = &Node{Zone: z, Apex: true, proof: noProof, wildcard: noProof}
	}
	sort.SliceStable(snap.zones, func(i, j int) bool {
		return dns.CountLabel(snap.zones[i].Name) > dns.CountLabel(snap.zones[j].Name)
	})

	byService, err := candidates(in)
	if err != nil {
		return nil, err
	}
	for _, dc := range cfg.Domains {
		zone, _ := snap.Lookup(dc.Name)
		if zone == nil {
			return nil, fmt.Errorf("domain %s lies in no configured zone", dc.Name)
		}
		cold := in.Cold && agentBacked(cfg, dc.Service)
		d, err := buildDomain(dc, byService[dc.Service], cold)
		if err != nil {
			return nil, err
		}
		snap.domains = append(snap.domains, d)
		snap.names[d.Name] = &Node{Zone: zone, Domain: d, proof: noProof, wildcard: noProof}
	}
	// Names between a domain and its zone's apex exist without data
	// (empty non-terminals, RFC 8020): they answer NODATA, not NXDOMAIN.
	for _, d := range snap.domains {
		zone := snap.names[d.Name].Zone
		for name := parent(d.Name); name != zone.Name && inZone(name, zone.Name); name = parent(name) {
			if _, ok := snap.names[name]; !ok {
				snap.names[name] = &Node{Zone: zone, proof: noProof, wildcard: noProof}
			}
		}
	}
	if in.Sign != nil {
		if err := signSnapshot(snap, in, apexes); err != nil {
			return nil, err
		}
	}
	// The records were kept for signing; answers use the packed bytes.
	for _, d := range snap.domains {
		d.A.rrsets, d.AAAA.rrsets = nil, nil
	}
	return snap, nil
}

// agentBacked reports whether agents may report backends of service: it
// has a token, so until the cluster's state is known its absence of
// backends proves nothing.
func agentBacked(cfg *config.Config, service string) bool {
	if cfg.Overwatch == nil || cfg.Overwatch.Gossip == nil {
		return false
	}
	_, ok := cfg.Overwatch.AgentTokens[service]
	return ok
}

// candidate is one backend of a service, static or agent-reported, with
// the state the snapshot serves it in.
type candidate struct {
	view BackendView
	addr netip.Addr
}

// candidates merges static backends and agent reports per service. An
// agent-reported backend is served when its agent calls it healthy and,
// with validation on, this overwatch has not found it unreachable.
func candidates(in Input) (map[string][]candidate, error) {
	out := make(map[string][]candidate)
	for _, b := range in.Config.Backends {
		addr, err := netip.ParseAddr(b.Address)
		if err != nil {
			return nil, fmt.Errorf("backend %s of service %s: %w", b.Address, b.Service, err)
		}
		addr = addr.Unmap()
		state := in.Health[messages.BackendKey{Service: b.Service, Address: addr, Port: b.Port}]
		out[b.Service] = append(out[b.Service], candidate{addr: addr, view: BackendView{
			Service: b.Service, Address: addr.String(), Port: b.Port, Weight: b.Weight, Priority: b.Priority,
			Region: b.Region, Source: "static", State: state.String(), Served: state == messages.HealthHealthy,
		}})
	}
	validating := in.Config.Overwatch != nil && in.Config.Overwatch.Validation.Enabled
	for _, ab := range in.Agents {
		b := ab.Backend
		addr := b.Address.Unmap()
		claimed := b.Health
		validated := messages.HealthUnknown
		if validating {
			validated = in.Health[messages.BackendKey{Service: ab.Service, Address: addr, Port: b.Port}]
		}
		served := claimed == messages.HealthHealthy && validated != messages.HealthUnhealthy
		state := claimed
		if claimed == messages.HealthHealthy && validated == messages.HealthUnhealthy {
			state = messages.HealthUnhealthy
		}
		region := b.Region
		out[ab.Service] = append(out[ab.Service], candidate{addr: addr, view: BackendView{
			Service: ab.Service, Address: addr.String(), Port: b.Port, Weight: b.Weight, Priority: b.Priority,
			Region: region, Source: ab.Agent, State: state.String(), Served: served,
			Claimed: claimed.String(), Validated: validated.String(), Stale: ab.Stale, LastReport: ab.Received,
		}})
	}
	applyOverrides(out, in.Overrides, in.Now)
	return out, nil
}

// applyOverrides lets an operator's decision beat health: "up" serves a
// backend whatever its checks say, "down" and "drain" keep it out. A
// backend's own override beats its service's.
func applyOverrides(byService map[string][]candidate, overrides []messages.Override, now time.Time) {
	if len(overrides) == 0 {
		return
	}
	index := make(map[string]messages.Override, len(overrides))
	for _, o := range overrides {
		if o.Expires.IsZero() || now.Before(o.Expires) {
			index[o.Key()] = o
		}
	}
	for service, list := range byService {
		for i := range list {
			c := &list[i]
			o, ok := index[messages.Override{Service: service, Backend: netip.AddrPortFrom(c.addr, c.view.Port)}.Key()]
			if !ok {
				o, ok = index[service]
			}
			if !ok {
				continue
			}
			c.view.Override = o.State
			c.view.Served = o.State == messages.OverrideUp
		}
	}
}

// parent is name without its first label; an escaped dot ("\\.") is
// part of a label, not a separator.
func parent(name string) string {
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '\\':
			i++
		case '.':
			if i == len(name)-1 {
				return "."
			}
			return name[i+1:]
		}
	}
	return "."
}

// apexSets are the apex's records before packing, kept for signing.
type apexSets struct {
	soa, negativeSOA *dns.SOA
	ns               []dns.RR
}

func buildZone(cfg config.DNS, name string, serial uint32) (*Zone, apexSets, error) {
	nameservers := cfg.NameserversFor(name)
	if len(nameservers) == 0 {
		return nil, apexSets{}, fmt.Errorf("zone %s has no nameserver", name)
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
	if z.SOA.Plain, err = packAfter(name, []dns.RR{soa}, true); err != nil {
		return nil, apexSets{}, err
	}
	var ns []dns.RR
	for _, host := range nameservers {
		ns = append(ns, &dns.NS{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: nsTTL},
			Ns:  dns.Fqdn(host),
		})
	}
	if z.NS.Plain, err = packAfter(name, ns, true); err != nil {
		return nil, apexSets{}, err
	}
	// RFC 2308 §5: a negative answer is cached for the lesser of the SOA's
	// TTL and its MINIMUM field.
	negative := *soa
	negative.Hdr.Ttl = negativeTTL(cfg)
	if z.NegativeSOA.Plain, err = packAfter(name, []dns.RR{&negative}, false); err != nil {
		return nil, apexSets{}, err
	}
	return z, apexSets{soa: soa, negativeSOA: &negative, ns: ns}, nil
}

// negativeTTL is how long a negative answer, and so the NSEC or NSEC3
// records proving it (RFC 9077), may be cached.
func negativeTTL(cfg config.DNS) uint32 { return min(soaTTL, cfg.NegativeTTL) }

func buildDomain(dc config.Domain, backends []candidate, cold bool) (*Domain, error) {
	d := &Domain{
		Name:            dc.Name,
		Service:         dc.Service,
		Routing:         dc.Routing,
		TTL:             dc.TTL,
		Fallback:        dc.Fallback,
		fallbackAnswers: metrics.GetOrCreateCounter(fallbackCounterName(dc.Name)),
	}
	var healthy []candidate
	for _, c := range backends {
		if c.view.Served {
			healthy = append(healthy, c)
		}
		d.Backends = append(d.Backends, c.view)
	}
	chosen := healthy
	if len(healthy) == 0 {
		d.FallbackActive = true
		fallback := dc.Fallback
		if cold {
			// What agents report has not arrived yet: say nothing a
			// resolver would cache.
			d.Cold = true
			fallback = config.FallbackServfail
		}
		switch fallback {
		case config.FallbackServfail:
			d.A = Answer{kind: choiceFail}
			d.AAAA = d.A
			return d, nil
		case config.FallbackNodata:
			d.A = Answer{kind: choiceNone}
			d.AAAA = d.A
			return d, nil
		default:
			// Fail open: a backend that merely looks down to us beats
			// telling every client that the service does not exist. One
			// an operator took out stays out.
			chosen = nil
			for i, c := range backends {
				if c.view.Override == messages.OverrideDown || c.view.Override == messages.OverrideDrain {
					continue
				}
				chosen = append(chosen, c)
				d.Backends[i].Served = true
			}
		}
	}
	var v4, v6 []candidate
	for _, c := range chosen {
		if c.addr.Is4() {
			v4 = append(v4, c)
		} else {
			v6 = append(v6, c)
		}
	}
	var err error
	if d.A, err = buildAnswer(dc, v4, dns.TypeA); err != nil {
		return nil, err
	}
	if d.AAAA, err = buildAnswer(dc, v6, dns.TypeAAAA); err != nil {
		return nil, err
	}
	return d, nil
}

func buildAnswer(dc config.Domain, backends []candidate, qtype uint16) (Answer, error) {
	a, err := buildChoice(dc, backends, qtype)
	if err != nil {
		return Answer{}, err
	}
	seen := make(map[netip.Addr]bool)
	for _, b := range a.drawsFrom(backends) {
		if !seen[b.addr] {
			seen[b.addr] = true
			a.Addresses = append(a.Addresses, b.addr.String())
		}
	}
	return a, nil
}

func buildChoice(dc config.Domain, backends []candidate, qtype uint16) (Answer, error) {
	if len(backends) == 0 {
		return Answer{kind: choiceNone}, nil
	}
	switch dc.Routing {
	case config.RoutingFailover:
		primary := backends[0].view.Priority
		for _, b := range backends {
			primary = min(primary, b.view.Priority)
		}
		var chosen []candidate
		for _, b := range backends {
			if b.view.Priority == primary {
				chosen = append(chosen, b)
			}
		}
		set, rrs, err := packAddresses(dc, chosen, qtype)
		return Answer{kind: choiceFixed, variants: []RRSet{set}, rrsets: [][]dns.RR{rrs}, primary: primary, failover: true}, err

	case config.RoutingWeighted:
		weighted := backends[:0:0]
		for _, b := range backends {
			if b.view.Weight > 0 {
				weighted = append(weighted, b)
			}
		}
		equal := len(weighted) == 0
		if equal {
			// Every weight is zero: share equally rather than answer
			// nothing, since the operator kept these backends in.
			weighted = backends
		}
		a := Answer{kind: choiceWeight, DependsOnClient: len(weighted) > 1, weightedOnly: !equal}
		var sum uint64
		for _, b := range weighted {
			set, rrs, err := packAddresses(dc, []candidate{b}, qtype)
			if err != nil {
				return Answer{}, err
			}
			a.rrsets = append(a.rrsets, rrs)
			w := uint64(b.view.Weight)
			if equal {
				w = 1
			}
			sum += w
			a.variants = append(a.variants, set)
			a.cumulative = append(a.cumulative, sum)
		}
		return a, nil

	default: // round-robin
		// Every rotation is the same record set in another order, so one
		// signature covers them all (RFC 4034 §6.3 orders it canonically).
		a := Answer{kind: choiceRotate, next: new(atomic.Uint64), rotations: true}
		if len(backends) == 1 {
			a.kind = choiceFixed
		}
		for i := range backends {
			rotated := append(append([]candidate{}, backends[i:]...), backends[:i]...)
			set, rrs, err := packAddresses(dc, rotated, qtype)
			if err != nil {
				return Answer{}, err
			}
			a.variants = append(a.variants, set)
			a.rrsets = append(a.rrsets, rrs)
		}
		return a, nil
	}
}

// packAddresses packs one A or AAAA record per backend. Backends that share
// an address (different ports of one host) yield one record: a DNS answer
// cannot carry a port, and a duplicate record is invalid in an RRset.
func packAddresses(dc config.Domain, backends []candidate, qtype uint16) (RRSet, []dns.RR, error) {
	seen := make(map[netip.Addr]bool, len(backends))
	var rrs []dns.RR
	for _, b := range backends {
		if seen[b.addr] {
			continue
		}
		seen[b.addr] = true
		hdr := dns.RR_Header{Name: dc.Name, Rrtype: qtype, Class: dns.ClassINET, Ttl: dc.TTL}
		ip := net.IP(b.addr.AsSlice())
		if qtype == dns.TypeA {
			rrs = append(rrs, &dns.A{Hdr: hdr, A: ip})
		} else {
			rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: ip})
		}
	}
	set, err := packAfter(dc.Name, rrs, true)
	return set, rrs, err
}
