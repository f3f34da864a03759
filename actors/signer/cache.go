package signer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/miekg/dns"
)

// Signature cache bounds. An entry unused for cacheIdle is dropped: long
// enough that a backend flapping within the hour costs no new signature,
// short enough that a busy zone's cache holds what it serves.
const (
	cacheIdle       = time.Hour
	maxCacheEntries = 200_000
	// inceptionSkew backdates every signature, so a validator whose clock
	// runs behind ours still accepts it.
	inceptionSkew = time.Hour
)

// setHash identifies a record set signed by one key: the key's tag and
// algorithm, and the sorted wire form of the records with their TTL.
type setHash [sha256.Size]byte

type cachedSig struct {
	sig       *dns.RRSIG
	refreshAt time.Time
	lastUsed  time.Time
}

// sigCache holds signatures by what they cover, so a rebuild signs only
// the sets that changed.
type sigCache struct {
	entries map[setHash]*cachedSig
}

func newSigCache() *sigCache { return &sigCache{entries: make(map[setHash]*cachedSig)} }

func hashSet(k *Key, rrset []dns.RR) (setHash, error) {
	wires := make([][]byte, 0, len(rrset))
	for _, rr := range rrset {
		buf := make([]byte, dns.Len(rr)+1)
		n, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			return setHash{}, fmt.Errorf("pack %s: %w", rr.Header().Name, err)
		}
		wires = append(wires, buf[:n])
	}
	sort.Slice(wires, func(i, j int) bool { return bytes.Compare(wires[i], wires[j]) < 0 })
	h := sha256.New()
	var head [3]byte
	binary.BigEndian.PutUint16(head[:], k.Tag())
	head[2] = k.DNSKEY.Algorithm
	h.Write(head[:])
	h.Write([]byte(k.DNSKEY.PublicKey))
	for _, w := range wires {
		h.Write(w)
	}
	var out setHash
	h.Sum(out[:0])
	return out, nil
}

// signPolicy says how long signatures live: validity, less a random part
// of a tenth of it so that signatures made together do not all expire
// together, and refreshed once a quarter of validity is left.
type signPolicy struct {
	validity time.Duration
}

func (p signPolicy) window(now time.Time) (inception, expiration, refreshAt time.Time) {
	jitter := time.Duration(0)
	if tenth := int64(p.validity / 10); tenth > 0 {
		jitter = time.Duration(rand.Int64N(tenth))
	}
	expiration = now.Add(p.validity - jitter)
	return now.Add(-inceptionSkew), expiration, expiration.Add(-p.validity / 4)
}

// evict drops entries idle since before cutoff and, past the size bound,
// the least recently used.
func (c *sigCache) evict(cutoff time.Time) {
	for h, e := range c.entries {
		if e.lastUsed.Before(cutoff) {
			delete(c.entries, h)
		}
	}
	if len(c.entries) <= maxCacheEntries {
		return
	}
	type aged struct {
		h    setHash
		used time.Time
	}
	all := make([]aged, 0, len(c.entries))
	for h, e := range c.entries {
		all = append(all, aged{h, e.lastUsed})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used.Before(all[j].used) })
	for _, a := range all[:len(all)-maxCacheEntries*9/10] {
		delete(c.entries, a.h)
	}
}
