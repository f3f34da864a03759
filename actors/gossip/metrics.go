package gossip

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// Metric families, in VictoriaMetrics' default set (served on /metrics):
//
//	overwatch:
//	opengslb_gossip_reports_total{result}              counter  result = accepted | bad_token |
//	                                                   unknown_service | replay | decode_error |
//	                                                   too_large | name_mismatch | zone_busy
//	opengslb_overwatch_agents_registered               gauge    alive agents with ≥1 accepted report
//	opengslb_gossip_state_queries_total                counter  "opengslb-state" queries sent
//	agent:
//	opengslb_agent_reports_sent_total{service}         counter
//	opengslb_agent_report_acks_total{result}           counter  result = accepted | refused
//	opengslb_agent_report_errors_total{service}        counter  a report that could not be sent
//	both:
//	opengslb_gossip_members{status}                    gauge    status = alive | failed | left
//	opengslb_gossip_join_failures_total                counter  failed join attempts
//	opengslb_gossip_events_dropped_total               counter  serf events lost to a full queue
//	opengslb_gossip_hook_events_dropped_total          counter  hook events the hooks mailbox refused
//	opengslb_gossip_unexpected_messages_total          counter
//
// zone_busy counts reports that passed every check but could not be handed
// to the zone within its deadline: they are refused ("overwatch busy") and
// not recorded by the replay guard, so the agent's next report is taken.
//
// The series are process-wide: a process runs one gossip actor.
const (
	resultAccepted       = "accepted"
	resultBadToken       = "bad_token"
	resultUnknownService = "unknown_service"
	resultReplay         = "replay"
	resultDecodeError    = "decode_error"
	resultTooLarge       = "too_large"
	resultNameMismatch   = "name_mismatch"
	resultZoneBusy       = "zone_busy"
)

var (
	agentsRegistered   = metrics.GetOrCreateGauge(`opengslb_overwatch_agents_registered`, nil)
	stateQueries       = metrics.GetOrCreateCounter(`opengslb_gossip_state_queries_total`)
	joinFailures       = metrics.GetOrCreateCounter(`opengslb_gossip_join_failures_total`)
	eventsDropped      = metrics.GetOrCreateCounter(`opengslb_gossip_events_dropped_total`)
	hookDropped        = metrics.GetOrCreateCounter(`opengslb_gossip_hook_events_dropped_total`)
	unexpectedMessages = metrics.GetOrCreateCounter(`opengslb_gossip_unexpected_messages_total`)
	membersAlive       = metrics.GetOrCreateGauge(`opengslb_gossip_members{status="alive"}`, nil)
	membersFailed      = metrics.GetOrCreateGauge(`opengslb_gossip_members{status="failed"}`, nil)
	membersLeft        = metrics.GetOrCreateGauge(`opengslb_gossip_members{status="left"}`, nil)
	acksAccepted       = metrics.GetOrCreateCounter(`opengslb_agent_report_acks_total{result="accepted"}`)
	acksRefused        = metrics.GetOrCreateCounter(`opengslb_agent_report_acks_total{result="refused"}`)
)

func reportsTotal(result string) *metrics.Counter {
	return metrics.GetOrCreateCounter(`opengslb_gossip_reports_total{result="` + result + `"}`)
}

func reportsSent(service string) *metrics.Counter {
	return metrics.GetOrCreateCounter(`opengslb_agent_reports_sent_total{service="` + escapeLabel(service) + `"}`)
}

func reportErrors(service string) *metrics.Counter {
	return metrics.GetOrCreateCounter(`opengslb_agent_report_errors_total{service="` + escapeLabel(service) + `"}`)
}

// Register the overwatch's result series at zero, so dashboards and alerts
// see every label before the first refusal happens.
func init() {
	for _, r := range []string{resultAccepted, resultBadToken, resultUnknownService, resultReplay,
		resultDecodeError, resultTooLarge, resultNameMismatch, resultZoneBusy} {
		reportsTotal(r)
	}
}

// escapeLabel escapes a Prometheus label value. Service names are validated
// by config, but a newline would make the metrics library panic.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
