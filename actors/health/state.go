package health

import "github.com/opengslb/opengslb/messages"

// machine is the rise/fall state machine of one target. It is a plain value
// owned by the target's goroutine, so it is tested without any timing.
//
// Start rule: a target starts HealthUnknown and that first state is not
// reported (it is not a change; the zone treats a backend it has no verdict
// for as unknown, and a target restarted by a changed check keeps the zone's
// last verdict until the new check decides). The first report comes after
// rise consecutive passes (→ healthy) or fall consecutive failures
// (→ unhealthy), whichever happens first. A pass resets the failure run and
// a failure resets the pass run, so an alternating backend stays where it is.
type machine struct {
	state    messages.HealthState
	rise     int // consecutive passes to become healthy
	fall     int // consecutive failures to become unhealthy
	passes   int
	failures int
}

func newMachine(rise, fall int) machine {
	return machine{state: messages.HealthUnknown, rise: max(rise, 1), fall: max(fall, 1)}
}

// observe records one check result and reports whether the state changed.
func (m *machine) observe(ok bool) bool {
	if ok {
		m.failures = 0
		m.passes++
		if m.state != messages.HealthHealthy && m.passes >= m.rise {
			m.state = messages.HealthHealthy
			return true
		}
		return false
	}
	m.passes = 0
	m.failures++
	if m.state != messages.HealthUnhealthy && m.failures >= m.fall {
		m.state = messages.HealthUnhealthy
		return true
	}
	return false
}
