package signer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

// Options tune the actor; zero values take defaults.
type Options struct {
	Now func() time.Time
	// Sync, when set, is asked at start-up for peers' keys before any
	// zone without a key gets a new one.
	Sync runtime.Address[messages.SyncMsg]
	// FetchTimeout bounds that start-up fetch; default 30s plus a margin
	// (the sync actor applies key_sync.timeout to the peers themselves).
	FetchTimeout time.Duration
	// RetireAfter is how long a key replaced by key sync keeps signing.
	RetireAfter time.Duration
}

// DefaultRetireAfter covers the DNSKEY TTL twice: a resolver that cached
// the old DNSKEY set has refetched it by then, so dropping the old key
// breaks no validation.
const DefaultRetireAfter = 2 * keyTTL * time.Second

// Actor owns the keys of every zone and the signature cache. Only Run's
// goroutine touches them; both survive a restart, so a panic costs no key
// and no signature.
type Actor struct {
	log   zerolog.Logger
	inbox *runtime.Mailbox[messages.SignerMsg]
	opts  Options

	cfg    *config.Config
	loaded bool
	keys   map[string]*Key // zone → its active key, which key sync converges on
	// retiring are keys key sync replaced, zone by zone: still published
	// and signing until their DeleteAt.
	retiring map[string][]*Key
	cache    *sigCache

	readyOnce sync.Once
	ready     chan struct{}
}

// New prepares the signer; keys are loaded or generated when Run starts.
func New(log zerolog.Logger, inbox *runtime.Mailbox[messages.SignerMsg], cfg *config.Config, opts Options) *Actor {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 35 * time.Second
	}
	if opts.RetireAfter <= 0 {
		opts.RetireAfter = DefaultRetireAfter
	}
	return &Actor{
		log:      log.With().Str("actor", "signer").Logger(),
		inbox:    inbox,
		opts:     opts,
		cfg:      cfg,
		keys:     make(map[string]*Key),
		retiring: make(map[string][]*Key),
		cache:    newSigCache(),
		ready:    make(chan struct{}),
	}
}

// Name implements runtime.Actor.
func (a *Actor) Name() string { return "signer" }

// Ready is closed once every configured zone has a key.
func (a *Actor) Ready() <-chan struct{} { return a.ready }

// KeyDirOf is where cfg keeps its keys.
func KeyDirOf(cfg *config.Config) string { return filepath.Join(cfg.DataDir, KeyDir) }

// Run loads or makes every zone's key, then signs on request until ctx ends.
func (a *Actor) Run(ctx context.Context) error {
	if err := a.load(); err != nil {
		return fmt.Errorf("%w: %w", err, runtime.ErrFatal)
	}
	if err := a.fetchMissing(ctx); err != nil {
		return fmt.Errorf("%w: %w", err, runtime.ErrFatal)
	}
	if err := a.ensureKeys(); err != nil {
		// A key that cannot be read or stored will not appear by retrying,
		// and serving with a new key would break the DS at the parent.
		return fmt.Errorf("%w: %w", err, runtime.ErrFatal)
	}
	a.readyOnce.Do(func() { close(a.ready) })
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg := <-a.inbox.Receive():
			a.handle(msg)
		}
	}
}

func (a *Actor) handle(msg messages.SignerMsg) {
	switch m := msg.(type) {
	case messages.ConfigApplied:
		if m.Config == nil {
			return
		}
		a.cfg = m.Config
		if err := a.ensureKeys(); err != nil {
			a.log.Error().Err(err).Str("dir", KeyDirOf(a.cfg)).
				Msg("a zone added by the reload has no key: snapshots are not rebuilt (the previous one keeps serving) until one can be stored there; each rebuild retries")
		}
	case messages.SignRequest:
		reply := a.sign(m.Zones)
		m.Reply <- reply // one slot: never blocks
	case messages.ExportKeys:
		m.Reply <- a.export()
	case messages.AdoptKeys:
		m.Reply <- a.adopt(m.Keys)
	default:
		a.log.Warn().Type("message", msg).Msg("unknown message dropped")
	}
}

// ensureKeys generates and stores a key for every configured zone that
// has none.
func (a *Actor) ensureKeys() error {
	dir := KeyDirOf(a.cfg)
	if err := a.load(); err != nil {
		return err
	}
	var errs []error
	for _, zone := range a.cfg.DNS.Zones {
		zone = dns.CanonicalName(zone)
		if _, ok := a.keys[zone]; ok {
			continue
		}
		k, err := Generate(zone, a.cfg.Overwatch.DNSSEC.Algorithm, a.opts.Now())
		if err == nil {
			err = WriteKey(dir, k)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("dnssec: zone %s: %w", zone, err))
			continue
		}
		a.keys[zone] = k
		keysGenerated.Inc()
		exportKeyAge(zone, k.Created)
		a.log.Info().Str("zone", zone).Uint16("key_tag", k.Tag()).Str("dir", dir).
			Str("ds", k.DS().String()).Msg("DNSSEC key generated: give the parent zone this DS record")
	}
	return errors.Join(errs...)
}

// sign answers one request: every zone's key sets and the signatures of
// the requested sets, from the cache where it can.
func (a *Actor) sign(zones []messages.ZoneToSign) messages.SignReply {
	now := a.opts.Now()
	a.expireRetired(now)
	policy := signPolicy{validity: a.cfg.Overwatch.DNSSEC.SignatureValidity.Duration}
	out := make([]messages.SignedZone, 0, len(zones))
	for _, z := range zones {
		if _, ok := a.keys[z.Zone]; !ok {
			// A key that could not be stored (a full disk, a bad
			// permission) is tried again, so fixing it needs no restart.
			if err := a.ensureKeys(); err != nil {
				return messages.SignReply{Err: err}
			}
			if _, ok = a.keys[z.Zone]; !ok {
				return messages.SignReply{Err: errNoZoneKey(z.Zone)}
			}
		}
		keys := a.signingKeys(z.Zone)
		active := keys[0]
		sz := messages.SignedZone{Zone: z.Zone, Sigs: make([][]dns.RR, len(z.RRsets))}
		dnskeys := make([]dns.RR, 0, len(keys))
		for _, k := range keys {
			sz.Keys = append(sz.Keys, k.Info())
			dnskeys = append(dnskeys, k.DNSKEY)
		}
		var err error
		s := &zoneSigner{a: a, keys: keys, now: now, policy: policy}
		if sz.DNSKEY, err = s.signed(dnskeys); err != nil {
			return messages.SignReply{Err: err}
		}
		// CDS and CDNSKEY name only the active key: they tell the parent
		// which DS to hold, and a retiring key's DS is on its way out.
		if sz.CDS, err = s.signed([]dns.RR{active.DS().ToCDS()}); err != nil {
			return messages.SignReply{Err: err}
		}
		if sz.CDNSKEY, err = s.signed([]dns.RR{active.DNSKEY.ToCDNSKEY()}); err != nil {
			return messages.SignReply{Err: err}
		}
		for i, set := range z.RRsets {
			if sz.Sigs[i], err = s.sigs(set); err != nil {
				return messages.SignReply{Err: err}
			}
		}
		sz.RefreshAt = s.refreshAt
		for _, k := range keys[1:] {
			// The snapshot is rebuilt when a retiring key goes.
			if sz.RefreshAt.IsZero() || k.DeleteAt.Before(sz.RefreshAt) {
				sz.RefreshAt = k.DeleteAt
			}
		}
		out = append(out, sz)
	}
	a.cache.evict(now.Add(-cacheIdle))
	cacheEntries.Set(float64(len(a.cache.entries)))
	return messages.SignReply{Zones: out}
}

// zoneSigner signs one zone's sets for one request and tracks the earliest
// refresh among the signatures it hands out.
type zoneSigner struct {
	a         *Actor
	keys      []*Key // every set is signed by each
	now       time.Time
	policy    signPolicy
	refreshAt time.Time
}

func (s *zoneSigner) signed(set []dns.RR) (messages.SignedRRset, error) {
	sigs, err := s.sigs(set)
	return messages.SignedRRset{RRs: set, Sigs: sigs}, err
}

func (s *zoneSigner) sigs(set []dns.RR) ([]dns.RR, error) {
	if len(set) == 0 {
		return nil, nil
	}
	out := make([]dns.RR, 0, len(s.keys))
	for _, k := range s.keys {
		sig, err := s.sig(k, set)
		if err != nil {
			return nil, err
		}
		out = append(out, sig)
	}
	return out, nil
}

func (s *zoneSigner) sig(k *Key, set []dns.RR) (dns.RR, error) {
	h, err := hashSet(k, set)
	if err != nil {
		return nil, fmt.Errorf("dnssec: zone %s: %w", k.Zone, err)
	}
	e, ok := s.a.cache.entries[h]
	switch {
	case ok && s.now.Before(e.refreshAt):
		signatureReused.Inc()
	default:
		sig, refreshAt, err := s.make(k, set)
		if err != nil {
			return nil, err
		}
		if ok {
			signedRefresh.Inc()
		} else {
			signedSnapshot.Inc()
		}
		e = &cachedSig{sig: sig, refreshAt: refreshAt}
		s.a.cache.entries[h] = e
	}
	e.lastUsed = s.now
	if s.refreshAt.IsZero() || e.refreshAt.Before(s.refreshAt) {
		s.refreshAt = e.refreshAt
	}
	return e.sig, nil
}

func (s *zoneSigner) make(k *Key, set []dns.RR) (*dns.RRSIG, time.Time, error) {
	started := time.Now()
	inception, expiration, refreshAt := s.policy.window(s.now)
	hdr := set[0].Header()
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Ttl: hdr.Ttl},
		Algorithm:  k.DNSKEY.Algorithm,
		KeyTag:     k.Tag(),
		SignerName: k.Zone,
		Inception:  uint32(inception.Unix()),
		Expiration: uint32(expiration.Unix()),
		OrigTtl:    hdr.Ttl,
	}
	if err := sig.Sign(k.Private, set); err != nil {
		return nil, time.Time{}, fmt.Errorf("dnssec: sign %s %s in zone %s: %w", hdr.Name, dns.TypeToString[hdr.Rrtype], k.Zone, err)
	}
	signingTime.UpdateDuration(started)
	return sig, refreshAt, nil
}
