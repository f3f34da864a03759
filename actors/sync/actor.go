// Package sync is the SyncActor: it keeps this overwatch's DNSSEC keys the
// same as its peers'. It polls every key_sync peer's keys over the API,
// hands what they hold to the signer (which keeps, per zone, the winner of
// one deterministic rule), and tells the zone to re-sign when a key
// changed.
package sync

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math/rand/v2"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

// Options tune the actor; zero values take defaults.
type Options struct {
	Now func() time.Time
	// SignerReady is closed once the signer serves requests. The first
	// round waits for it: a round hands keys to the signer, and a signer
	// still starting may itself be waiting on this actor for keys.
	SignerReady <-chan struct{}
	// RetryAfter is how soon a failed round is retried when poll_interval
	// is longer; default one minute, so a peer that was down at start-up
	// or a fixed token is picked up without waiting out the hour.
	RetryAfter time.Duration
}

// adoptTimeout bounds handing keys to the signer, which stores them.
const adoptTimeout = 10 * time.Second

// Actor polls the key_sync peers. Only Run's goroutine changes its state;
// Status is safe from any goroutine.
type Actor struct {
	log    zerolog.Logger
	inbox  *runtime.Mailbox[messages.SyncMsg]
	signer runtime.Address[messages.SignerMsg]
	zone   runtime.Address[messages.ZoneMsg]
	opts   Options

	cfg       *config.Config
	client    *peerClient
	clientErr error // why client is nil: ca_file unreadable
	lastError string

	status atomic.Pointer[messages.SyncStatus]
	// tokenSum is the SHA-256 of key_sync.token, nil without one; peers'
	// requests are checked against it from the API's goroutines.
	tokenSum  atomic.Pointer[[sha256.Size]byte]
	readyOnce gosync.Once
	ready     chan struct{}
}

// New prepares the actor; it polls nothing until Run.
func New(log zerolog.Logger, inbox *runtime.Mailbox[messages.SyncMsg], signer runtime.Address[messages.SignerMsg],
	zone runtime.Address[messages.ZoneMsg], cfg *config.Config, opts Options) *Actor {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Minute
	}
	a := &Actor{
		log: log.With().Str("actor", "sync").Logger(), inbox: inbox, signer: signer, zone: zone,
		opts: opts, cfg: cfg, ready: make(chan struct{}),
	}
	a.status.Store(&messages.SyncStatus{Enabled: len(a.keySync().Peers) > 0, PeerCount: len(a.keySync().Peers)})
	a.storeToken()
	syncSuccess()
	lastSyncStamp()
	return a
}

// Name implements runtime.Actor.
func (a *Actor) Name() string { return "sync" }

// Ready is closed once the actor takes messages, so the signer started
// after it can ask for keys.
func (a *Actor) Ready() <-chan struct{} { return a.ready }

// Status is the sync block of GET /api/v1/dnssec/status.
func (a *Actor) Status() messages.SyncStatus { return *a.status.Load() }

// CheckToken is whether a peer presented this overwatch's key sync token.
// Digests are compared so that the time taken says nothing about the
// token, whatever length the peer sends.
func (a *Actor) CheckToken(token string) error {
	want := a.tokenSum.Load()
	if want == nil {
		return errors.New("this overwatch has no overwatch.dnssec.key_sync.token, so it shares its keys with no peer; set the same token on every overwatch")
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return errors.New("the sync token does not match this overwatch's overwatch.dnssec.key_sync.token")
	}
	return nil
}

func (a *Actor) storeToken() {
	if a.keySync().Token == "" {
		a.tokenSum.Store(nil)
		return
	}
	sum := sha256.Sum256([]byte(a.keySync().Token))
	a.tokenSum.Store(&sum)
}

func (a *Actor) keySync() config.KeySync { return a.cfg.Overwatch.DNSSEC.KeySync }

// Run polls until ctx ends: first once the signer is ready, then every
// poll_interval with jitter, at once on SyncNow or a changed peer list.
func (a *Actor) Run(ctx context.Context) error {
	a.configure()
	defer a.closeClient()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	signerReady := a.opts.SignerReady
	if signerReady == nil {
		timer.Reset(0)
	}
	a.readyOnce.Do(func() { close(a.ready) })
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-signerReady:
			signerReady = nil
			timer.Reset(0)
		case <-timer.C:
			a.schedule(timer, a.round(ctx))
		case msg := <-a.inbox.Receive():
			switch m := msg.(type) {
			case messages.FetchKeys:
				round, keys := a.poll(ctx)
				a.record(round)
				m.Reply <- keys // one slot: never blocks
				if signerReady == nil {
					a.schedule(timer, round)
				}
			case messages.SyncNow:
				round := a.round(ctx)
				m.Reply <- round
				if signerReady == nil {
					a.schedule(timer, round)
				}
			case messages.ConfigApplied:
				if a.reconfigure(m.Config) && signerReady == nil {
					timer.Reset(0)
				}
			default:
				a.log.Warn().Type("message", msg).Msg("unknown message dropped")
			}
		}
	}
}

// schedule arms the next round: poll_interval after a good one, sooner
// after a failure. Jitter (±10%) keeps overwatches started together from
// polling each other in lockstep.
func (a *Actor) schedule(timer *time.Timer, last messages.SyncRound) {
	wait := a.keySync().PollInterval.Duration
	if !last.OK() && a.opts.RetryAfter < wait {
		wait = a.opts.RetryAfter
	}
	wait = time.Duration(float64(wait) * (0.9 + 0.2*rand.Float64()))
	timer.Stop()
	timer.Reset(wait)
	st := a.Status()
	st.NextSync = a.opts.Now().Add(wait).UTC().Truncate(time.Second)
	a.status.Store(&st)
}

// configure builds the HTTP client for the current key_sync settings.
func (a *Actor) configure() {
	a.closeClient()
	a.client, a.clientErr = newPeerClient(a.keySync())
	if a.clientErr != nil {
		a.log.Error().Err(a.clientErr).Msg("key sync cannot reach its peers until the CA file is fixed and the configuration reloaded")
	}
	st := a.Status()
	st.Enabled, st.PeerCount = len(a.keySync().Peers) > 0, len(a.keySync().Peers)
	a.status.Store(&st)
}

func (a *Actor) closeClient() {
	if a.client != nil {
		a.client.close()
		a.client = nil
	}
}

// reconfigure takes a reloaded configuration and reports whether key
// sync changed, in which case the caller polls at once: an operator who
// added peers (the guide's step 4) wants to see them synced.
func (a *Actor) reconfigure(cfg *config.Config) bool {
	if cfg == nil || cfg.Overwatch == nil {
		return false
	}
	before := a.keySync()
	a.cfg = cfg
	a.storeToken()
	after := a.keySync()
	if strings.Join(before.Peers, " ") == strings.Join(after.Peers, " ") && before.Token == after.Token &&
		before.CAFile == after.CAFile && before.Timeout == after.Timeout && before.PollInterval == after.PollInterval {
		return false
	}
	a.configure()
	a.log.Info().Strs("peers", after.Peers).Dur("poll_interval", after.PollInterval.Duration).Msg("key sync reconfigured; polling the peers now")
	return true
}

// poll asks every peer at once and gathers their keys; it takes at most
// key_sync.timeout.
func (a *Actor) poll(ctx context.Context) (messages.SyncRound, []messages.KeyMaterial) {
	peers := a.keySync().Peers
	round := messages.SyncRound{Peers: make([]messages.PeerOutcome, len(peers))}
	if a.clientErr != nil {
		round.Err = a.clientErr.Error()
		round.At = a.opts.Now()
		return round, nil
	}
	found := make([][]messages.KeyMaterial, len(peers))
	var wg gosync.WaitGroup
	for i, peer := range peers {
		wg.Go(func() { found[i], round.Peers[i] = a.client.fetch(ctx, peer) })
	}
	wg.Wait()
	var keys []messages.KeyMaterial
	for i, out := range round.Peers {
		countAttempt(out.Peer, out.Result)
		keys = append(keys, found[i]...)
	}
	round.At = a.opts.Now()
	return round, keys
}

// round polls, hands the keys to the signer and, when a zone's key
// changed, has the zone re-signed and republished.
func (a *Actor) round(ctx context.Context) messages.SyncRound {
	round, keys := a.poll(ctx)
	if len(keys) > 0 && !a.signer.IsZero() {
		adoptCtx, cancel := context.WithTimeout(ctx, adoptTimeout)
		reply, err := runtime.Ask(adoptCtx, a.signer, func(r chan<- messages.AdoptReply) messages.SignerMsg {
			return messages.AdoptKeys{Keys: keys, Reply: r}
		})
		cancel()
		switch {
		case err != nil:
			round.Err = "handing the peers' keys to the signer: " + err.Error()
		case reply.Err != nil:
			round.Err = "storing a peer's key: " + reply.Err.Error()
		}
		round.Adopted = reply.Adopted
		if len(reply.Adopted) > 0 && !a.zone.IsZero() {
			if err := a.zone.Send(ctx, messages.KeysChanged{}); err != nil && ctx.Err() == nil {
				// The key is stored and the signer uses it; the zone
				// re-signs at its next rebuild instead of now.
				a.log.Warn().Err(err).Msg("zone not told of the adopted key; it is re-signed at the next rebuild")
			}
		}
	}
	a.record(round)
	return round
}

// record publishes the round's outcome in the status and the metrics, and
// logs a failure once per distinct error rather than every retry.
func (a *Actor) record(round messages.SyncRound) {
	st := a.Status()
	st.LastSync = round.At.UTC().Truncate(time.Second)
	st.LastSyncError = roundError(round)
	a.status.Store(&st)
	if round.OK() {
		syncSuccess().Set(1)
		lastSyncStamp().Set(float64(round.At.Unix()))
		if a.lastError != "" {
			a.log.Info().Int("peers", len(round.Peers)).Msg("key sync recovered: every peer answered")
		}
	} else {
		syncSuccess().Set(0)
		if st.LastSyncError != a.lastError {
			a.log.Warn().Str("error", st.LastSyncError).Msg("key sync failed; the keys in use are unchanged")
		}
	}
	a.lastError = st.LastSyncError
}

// roundError is last_sync_error: every failing peer's reason.
func roundError(r messages.SyncRound) string {
	var parts []string
	for _, p := range r.Peers {
		if p.Error != "" {
			parts = append(parts, p.Error)
		}
	}
	if r.Err != "" {
		parts = append(parts, r.Err)
	}
	return strings.Join(parts, "; ")
}
