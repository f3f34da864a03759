package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

// maxReason bounds an override's reason: a sentence for the next person on
// call, not a document.
const maxReason = 1024

// overrideRequest is the body of PUT /api/v1/overrides/....
type overrideRequest struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
	// Expires is an RFC 3339 time or a Go duration from now ("2h");
	// empty means until cleared.
	Expires string `json:"expires"`
}

var overrideStates = []string{messages.OverrideDrain, messages.OverrideDown, messages.OverrideUp}

// overrideTarget reads what an override path names: a service, and a
// backend when the path has one. PathValue gives the segment unescaped,
// so [2001:db8::1]:443 arrives the same whether the client sent the
// brackets as they are or as %5B and %5D.
func overrideTarget(r *http.Request) (service string, backend netip.AddrPort, err error) {
	service = r.PathValue("service")
	if strings.TrimSpace(service) == "" {
		return "", netip.AddrPort{}, errors.New("the service is missing from the path")
	}
	raw := r.PathValue("backend")
	if raw == "" {
		return service, netip.AddrPort{}, nil
	}
	backend, err = netip.ParseAddrPort(raw)
	switch {
	case err != nil:
		return "", netip.AddrPort{}, fmt.Errorf("backend %q is not address:port (an IPv6 address goes in brackets: [2001:db8::1]:443)", raw)
	case backend.Port() == 0:
		return "", netip.AddrPort{}, fmt.Errorf("backend %q has port 0", raw)
	case backend.Addr().Zone() != "":
		return "", netip.AddrPort{}, fmt.Errorf("backend %q has an IPv6 zone, which backends do not", raw)
	}
	return service, netip.AddrPortFrom(backend.Addr().Unmap(), backend.Port()), nil
}

// parseExpires reads an expiry as an RFC 3339 time or as a duration from
// now; either must lie in the future, since an override that has already
// expired would be set and dropped in the same breath.
func parseExpires(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return time.Time{}, fmt.Errorf("expires %s is not in the future", s)
		}
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("expires %q is neither an RFC 3339 time (2026-12-01T10:00:00Z) nor a duration (2h, 30m)", s)
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("expires %s must be a positive duration", s)
	}
	return now.Add(d), nil
}

func (a *OverwatchActor) setOverride(w http.ResponseWriter, r *http.Request) {
	service, backend, err := overrideTarget(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid override", err.Error())
		return
	}
	var req overrideRequest
	present, ok := readJSON(w, r, &req)
	if !ok {
		return
	}
	if !present {
		writeError(w, http.StatusBadRequest, "invalid override", `send a JSON body: {"state": "drain"|"down"|"up", "reason": "...", "expires": "2h"}`)
		return
	}
	if !slices.Contains(overrideStates, req.State) {
		writeError(w, http.StatusBadRequest, "invalid override", fmt.Sprintf("state must be one of %s, not %q", strings.Join(overrideStates, ", "), req.State))
		return
	}
	if utf8.RuneCountInString(req.Reason) > maxReason {
		writeError(w, http.StatusBadRequest, "invalid override", fmt.Sprintf("reason is longer than %d characters", maxReason))
		return
	}
	now := a.now()
	expires, err := parseExpires(req.Expires, now)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid override", err.Error())
		return
	}
	if known := a.knownServices(); known != nil && !slices.Contains(known, service) {
		// A typo would otherwise be stored and change nothing.
		writeError(w, http.StatusNotFound, "no such service", fmt.Sprintf("no domain serves %q; known services: %s", service, strings.Join(known, ", ")))
		return
	}
	o := messages.Override{
		Service: service, Backend: backend, State: req.State, Reason: req.Reason,
		Expires: expires, Created: now, Source: infoOf(r).client.String(),
	}
	if !a.askZone(w, r, func(reply chan<- error) messages.ZoneMsg {
		return messages.SetOverride{Override: o, Reply: reply}
	}) {
		return
	}
	a.log.Info().Str("override", o.Key()).Str("state", o.State).Str("reason", o.Reason).
		Str("client", o.Source).Msg("override set through the API")
	writeJSON(w, http.StatusOK, map[string]any{"override": overrideView(o)})
}

func (a *OverwatchActor) clearOverride(w http.ResponseWriter, r *http.Request) {
	service, backend, err := overrideTarget(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid override", err.Error())
		return
	}
	if !a.askZone(w, r, func(reply chan<- error) messages.ZoneMsg {
		return messages.ClearOverride{Service: service, Backend: backend, Reply: reply}
	}) {
		return
	}
	key := messages.Override{Service: service, Backend: backend}.Key()
	a.log.Info().Str("override", key).Str("client", infoOf(r).client.String()).Msg("override cleared through the API")
	writeJSON(w, http.StatusOK, map[string]string{"cleared": key})
}

// askZone hands an override change to the ZoneActor and waits for it to be
// on disk and served. It answers the error itself; ok is false when it did.
func (a *OverwatchActor) askZone(w http.ResponseWriter, r *http.Request, build func(chan<- error) messages.ZoneMsg) bool {
	ctx, cancel := context.WithTimeout(r.Context(), a.zoneTimeout)
	defer cancel()
	zoneErr, err := runtime.Ask(ctx, a.src.Zone, build)
	switch {
	case errors.Is(err, runtime.ErrNoReply):
		// Handed over but unanswered: it may still be applied, so a blind
		// retry could mislead (a second DELETE would say 404).
		writeError(w, http.StatusGatewayTimeout, "zone did not answer in time",
			"the change was handed over and may still be applied; check GET /api/v1/overrides before retrying ("+err.Error()+")")
		return false
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "zone busy", "the change was not handed over; retry ("+err.Error()+")")
		return false
	case errors.Is(zoneErr, messages.ErrNoOverride):
		writeError(w, http.StatusNotFound, "no such override", zoneErr.Error())
		return false
	case errors.Is(zoneErr, messages.ErrNotServed):
		// Durable already; the zone serves it on its next good rebuild.
		a.log.Warn().Err(zoneErr).Msg("override change saved but not served yet")
	case zoneErr != nil:
		a.log.Error().Err(zoneErr).Msg("override change not saved")
		writeError(w, http.StatusInternalServerError, "override not saved", zoneErr.Error())
		return false
	}
	return true
}

// knownServices lists the services the current snapshot's domains serve,
// or nil before the first snapshot (nothing to check against yet).
func (a *OverwatchActor) knownServices() []string {
	snap := a.snapshot()
	if snap == nil {
		return nil
	}
	known := []string{}
	for _, d := range snap.Domains() {
		if !slices.Contains(known, d.Service) {
			known = append(known, d.Service)
		}
	}
	slices.Sort(known)
	return known
}

// reloadRequest is the body POST /api/v1/reload accepts: none, or {}.
type reloadRequest struct{}

func (a *OverwatchActor) reload(w http.ResponseWriter, r *http.Request) {
	if _, ok := readJSON(w, r, &reloadRequest{}); !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.reloadTimeout)
	defer cancel()
	res, err := runtime.Ask(ctx, a.src.Reload, func(reply chan<- messages.ReloadResult) messages.ReloadMsg {
		return messages.ReloadRequest{Reply: reply}
	})
	if errors.Is(err, runtime.ErrNoReply) {
		writeError(w, http.StatusGatewayTimeout, "reload did not answer in time",
			"the reload was started and may still apply; check config_generation in GET /api/v1/status or the log ("+err.Error()+")")
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "reload busy", "the reload was not started; retry ("+err.Error()+")")
		return
	}
	if res.Err != nil {
		writeError(w, http.StatusUnprocessableEntity, "reload refused", res.Err.Error())
		return
	}
	changes := res.Changes
	if changes == nil {
		changes = []string{}
	}
	a.log.Info().Bool("applied", res.Applied).Uint64("generation", res.Generation).
		Str("client", infoOf(r).client.String()).Msg("reload requested through the API")
	writeJSON(w, http.StatusOK, map[string]any{"applied": res.Applied, "generation": res.Generation, "changes": changes})
}
