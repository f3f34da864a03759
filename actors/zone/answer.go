package zone

import (
	"sort"
	"sync/atomic"

	"github.com/miekg/dns"
)

// How an Answer chooses among its prepared variants.
const (
	choiceNone   = iota // no records: NODATA
	choiceFixed         // one variant (failover, single backend)
	choiceRotate        // round-robin: rotate through variants per query
	choiceWeight        // weighted: one backend, chosen from the query's seed
	choiceFail          // fallback = servfail
)

// Answer is the prepared answer of one domain for one address family.
type Answer struct {
	kind     int
	variants []RRSet
	// signed[i] is variants[i] followed by its RRSIG; nil when unsigned.
	signed []RRSet
	// rrsets[i] are the records of variants[i], kept for signing; with
	// rotations every variant is the same set in another order.
	rrsets    [][]dns.RR
	rotations bool
	// cumulative holds the running sum of weights, parallel to variants,
	// for weighted choice by binary search.
	cumulative []uint64
	// next is the round-robin position. It is the one mutable field of a
	// snapshot: a counter, not state, so sharing it between queries is fine.
	next *atomic.Uint64
	// DependsOnClient is true when the choice is seeded from the client's
	// address or subnet, so an ECS reply must carry a non-zero scope.
	DependsOnClient bool
	// Addresses are what answers draw from, for the API to show.
	Addresses []string

	// For drawsFrom: failover's chosen priority, and whether weighted
	// left zero-weight backends out.
	failover     bool
	primary      int
	weightedOnly bool
}

// drawsFrom filters backends to those the answer can contain.
func (a *Answer) drawsFrom(backends []candidate) []candidate {
	var out []candidate
	for _, b := range backends {
		switch {
		case a.kind == choiceNone || a.kind == choiceFail:
		case a.failover && b.view.Priority != a.primary:
		case a.weightedOnly && b.view.Weight == 0:
		default:
			out = append(out, b)
		}
	}
	return out
}

// Pick returns the records to answer with, followed by their RRSIG when
// do is set and the zone is signed. seed identifies the client and the
// name (see Seed); ok is false when the domain's fallback says SERVFAIL.
func (a *Answer) Pick(seed uint64, do bool) (set RRSet, ok bool) {
	var i uint64
	switch a.kind {
	case choiceNone:
		return RRSet{}, true
	case choiceFixed:
	case choiceRotate:
		i = (a.next.Add(1) - 1) % uint64(len(a.variants))
	case choiceWeight:
		total := a.cumulative[len(a.cumulative)-1]
		point := seed % total
		i = uint64(sort.Search(len(a.cumulative), func(i int) bool { return a.cumulative[i] > point }))
	default:
		return RRSet{}, false
	}
	if do && a.signed != nil {
		return a.signed[i], true
	}
	return a.variants[i], true
}

// Fails reports whether the answer is SERVFAIL (fallback = servfail, or a
// cold start).
func (a *Answer) Fails() bool { return a.kind == choiceFail }

// Seed mixes a client prefix and a lower-case query name into the number
// that weighted routing picks with (FNV-1a). Every overwatch computes the
// same seed for the same client and name, so a client that retries on
// another nameserver gets the same backend.
func Seed(prefix []byte, prefixBits uint8, name string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, b := range prefix {
		h ^= uint64(b)
		h *= prime
	}
	h ^= uint64(prefixBits)
	h *= prime
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= prime
	}
	// A final avalanche so that neighbouring subnets spread over the
	// whole range rather than clustering on the low bits.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// Empty reports whether the answer never has records (NODATA).
func (a *Answer) Empty() bool { return a.kind == choiceNone }
