package messages

import (
	"net/netip"
	"strconv"
)

// BackendKey names one backend of one service. Two backends with the same key
// are the same backend, wherever they were configured.
type BackendKey struct {
	Service string
	Address netip.Addr
	Port    uint16
}

// String renders the key as service/address:port, brackets around IPv6.
func (k BackendKey) String() string {
	return k.Service + "/" + netip.AddrPortFrom(k.Address, k.Port).String()
}

// Endpoint renders address:port, as health metrics label it.
func (k BackendKey) Endpoint() string {
	return netip.AddrPortFrom(k.Address, k.Port).String()
}

// HealthState is what this node believes about a backend.
type HealthState uint8

const (
	// HealthUnknown is the state of a backend not yet checked enough times
	// to decide: it is not served while any backend of its domain is healthy.
	HealthUnknown HealthState = iota
	HealthHealthy
	HealthUnhealthy
)

func (s HealthState) String() string {
	switch s {
	case HealthUnknown:
		return "unknown"
	case HealthHealthy:
		return "healthy"
	case HealthUnhealthy:
		return "unhealthy"
	}
	return "HealthState(" + strconv.Itoa(int(s)) + ")"
}
