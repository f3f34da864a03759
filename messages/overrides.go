package messages

import (
	"errors"
	"net/netip"
	"time"
)

// Override states an operator may set for maintenance.
const (
	// OverrideDrain takes a backend out of new answers while it keeps
	// being checked: a DNS answer cannot drain connections, so in DNS it
	// behaves like down, but it tells people it is planned.
	OverrideDrain = "drain"
	// OverrideDown takes it out of answers whatever its health.
	OverrideDown = "down"
	// OverrideUp serves it whatever its health.
	OverrideUp = "up"
)

// ErrNoOverride is what clearing an override that does not exist returns.
var ErrNoOverride = errors.New("no such override")

// ErrNotServed is what an override change returns when it is on disk but
// no snapshot serving it could be published yet; it will be served by the
// next rebuild that succeeds.
var ErrNotServed = errors.New("override not served yet")

// Override is an operator's decision about one backend, or about every
// backend of a service when Backend is the zero AddrPort.
type Override struct {
	Service string
	Backend netip.AddrPort
	State   string
	Reason  string
	Expires time.Time // zero: until cleared
	Created time.Time
	Source  string // who set it: the API client's address
}

// WholeService reports whether the override covers every backend.
func (o Override) WholeService() bool { return !o.Backend.IsValid() }

// Key names what the override covers: "service" or "service/addr:port".
func (o Override) Key() string {
	if o.WholeService() {
		return o.Service
	}
	return o.Service + "/" + o.Backend.String()
}

// SetOverride asks the ZoneActor to set (or replace) an override, persist
// it and apply it on the next snapshot. Reply gets nil once it is on disk.
type SetOverride struct {
	Override Override
	Reply    chan<- error
}

func (SetOverride) zoneMsg() {}

// ClearOverride asks the ZoneActor to remove an override. Reply gets
// ErrNoOverride (wrapped) when there was none.
type ClearOverride struct {
	Service string
	Backend netip.AddrPort // zero: the whole-service override
	Reply   chan<- error
}

func (ClearOverride) zoneMsg() {}
