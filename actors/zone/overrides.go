package zone

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime/statefile"
)

// overridesFile is where overrides live under data_dir, so a restart keeps
// an operator's maintenance decisions.
const overridesFile = "overrides.json"

var overridesActive = metrics.NewGauge(`opengslb_overrides_active`, nil)

// storedOverrides is the file's shape; version lets a later release read
// an older file.
type storedOverrides struct {
	Version   int              `json:"version"`
	Overrides []storedOverride `json:"overrides"`
}

type storedOverride struct {
	Service string    `json:"service"`
	Backend string    `json:"backend,omitempty"` // addr:port, empty for the whole service
	State   string    `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	Created time.Time `json:"created"`
	Source  string    `json:"source,omitempty"`
}

func (a *Actor) overridesPath() string {
	if a.cfg == nil || a.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(a.cfg.DataDir, overridesFile)
}

// loadOverrides reads the file once per process. A missing file is no
// overrides; an unreadable or corrupt one is an error naming it: serving
// as if maintenance decisions did not exist would put drained backends
// back into answers.
func (a *Actor) loadOverrides() error {
	if a.overrides != nil {
		return nil
	}
	a.overrides = make(map[string]messages.Override)
	path := a.overridesPath()
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("zone: read overrides %s: %w", path, err)
	}
	var stored storedOverrides
	if err := json.Unmarshal(data, &stored); err != nil {
		return fmt.Errorf("zone: overrides file %s is corrupt (%v); fix or remove it", path, err)
	}
	for i, s := range stored.Overrides {
		o := messages.Override{Service: s.Service, State: s.State, Reason: s.Reason, Expires: s.Expires, Created: s.Created, Source: s.Source}
		if s.Backend != "" {
			if o.Backend, err = netip.ParseAddrPort(s.Backend); err != nil {
				return fmt.Errorf("zone: overrides file %s: entry %d: backend %q: %v", path, i, s.Backend, err)
			}
		}
		if err := checkOverride(o); err != nil {
			return fmt.Errorf("zone: overrides file %s: entry %d: %w", path, i, err)
		}
		a.overrides[o.Key()] = o
	}
	overridesActive.Set(float64(len(a.overrides)))
	return nil
}

func checkOverride(o messages.Override) error {
	switch o.State {
	case messages.OverrideDrain, messages.OverrideDown, messages.OverrideUp:
	default:
		return fmt.Errorf("state must be %q, %q or %q, not %q", messages.OverrideDrain, messages.OverrideDown, messages.OverrideUp, o.State)
	}
	if o.Service == "" {
		return errors.New("the service is missing")
	}
	return nil
}

// saveOverrides writes the file atomically (temporary file, fsync, rename)
// with mode 0600 in a 0700 directory: a crash leaves the old file or the
// new one, never half of one.
func (a *Actor) saveOverrides(next map[string]messages.Override) error {
	path := a.overridesPath()
	if path == "" {
		return nil
	}
	stored := storedOverrides{Version: 1, Overrides: []storedOverride{}}
	for _, o := range sortedOverrides(next) {
		s := storedOverride{Service: o.Service, State: o.State, Reason: o.Reason, Expires: o.Expires, Created: o.Created, Source: o.Source}
		if !o.WholeService() {
			s.Backend = o.Backend.String()
		}
		stored.Overrides = append(stored.Overrides, s)
	}
	data, err := json.MarshalIndent(stored, "", "  ")
	if err != nil {
		return fmt.Errorf("zone: encode overrides: %w", err)
	}
	if err := statefile.Write(path, append(data, '\n')); err != nil {
		return fmt.Errorf("zone: overrides: %w", err)
	}
	return nil
}

func sortedOverrides(m map[string]messages.Override) []messages.Override {
	out := make([]messages.Override, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// setOverride persists then applies; the reply says whether it is on disk.
func (a *Actor) setOverride(m messages.SetOverride) bool {
	o := m.Override
	o.Backend = netip.AddrPortFrom(o.Backend.Addr().Unmap(), o.Backend.Port())
	if !m.Override.Backend.IsValid() {
		o.Backend = netip.AddrPort{}
	}
	if err := checkOverride(o); err != nil {
		reply(m.Reply, err)
		return false
	}
	if o.Created.IsZero() {
		o.Created = a.opts.Now()
	}
	next := make(map[string]messages.Override, len(a.overrides)+1)
	for k, v := range a.overrides {
		next[k] = v
	}
	next[o.Key()] = o
	if err := a.saveOverrides(next); err != nil {
		reply(m.Reply, err)
		return false
	}
	a.overrides = next
	overridesActive.Set(float64(len(next)))
	a.log.Info().Str("override", o.Key()).Str("state", o.State).Str("reason", o.Reason).Time("expires", o.Expires).Str("source", o.Source).Msg("override set")
	a.replyWhenServed(m.Reply)
	return true
}

func (a *Actor) clearOverride(m messages.ClearOverride) bool {
	key := messages.Override{Service: m.Service, Backend: m.Backend}
	if m.Backend.IsValid() {
		key.Backend = netip.AddrPortFrom(m.Backend.Addr().Unmap(), m.Backend.Port())
	}
	if _, ok := a.overrides[key.Key()]; !ok {
		reply(m.Reply, fmt.Errorf("%w for %s", messages.ErrNoOverride, key.Key()))
		return false
	}
	next := make(map[string]messages.Override, len(a.overrides))
	for k, v := range a.overrides {
		if k != key.Key() {
			next[k] = v
		}
	}
	if err := a.saveOverrides(next); err != nil {
		reply(m.Reply, err)
		return false
	}
	a.overrides = next
	overridesActive.Set(float64(len(next)))
	a.log.Info().Str("override", key.Key()).Msg("override cleared")
	a.replyWhenServed(m.Reply)
	return true
}

// expireOverrides drops overrides past their expiry; it reports whether
// any was dropped.
func (a *Actor) expireOverrides() bool {
	now := a.opts.Now()
	next := make(map[string]messages.Override, len(a.overrides))
	for k, o := range a.overrides {
		if o.Expires.IsZero() || now.Before(o.Expires) {
			next[k] = o
		} else {
			a.log.Info().Str("override", k).Time("expires", o.Expires).Msg("override expired")
		}
	}
	if len(next) == len(a.overrides) {
		return false
	}
	if err := a.saveOverrides(next); err != nil {
		// Keep serving without the expired ones; the file catches up on
		// the next change. An expired override must not keep applying.
		a.log.Error().Err(err).Msg("expired overrides not yet removed from disk")
	}
	a.overrides = next
	overridesActive.Set(float64(len(next)))
	return true
}

// reply never blocks: Ask gives a one-slot channel, and a sender that gave
// up has nobody waiting.
// replyWhenServed holds an accepted change's reply until a snapshot that
// includes it is published, so an operator who lists overrides or asks DNS
// right after the API said yes sees the change (read-your-writes).
func (a *Actor) replyWhenServed(ch chan<- error) {
	if ch != nil {
		a.pendingReplies = append(a.pendingReplies, ch)
	}
}

// answerPending releases the held replies; err is nil once the change is
// served, or says why it is saved but not served yet.
func (a *Actor) answerPending(err error) {
	for _, ch := range a.pendingReplies {
		reply(ch, err)
	}
	a.pendingReplies = nil
}

func reply(ch chan<- error, err error) {
	if ch == nil {
		return
	}
	select {
	case ch <- err:
	default:
	}
}
