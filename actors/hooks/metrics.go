package hooks

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// Metric families, in VictoriaMetrics' default set (served on /metrics):
//
//	opengslb_hook_runs_total{event,result="success"|"failure"|"timeout"}  counter
//	opengslb_hook_dropped_total{event}                                   counter
//	opengslb_hook_duration_seconds                                       histogram
//	opengslb_hook_unexpected_messages_total                              counter
//
// event is the event's kind (member-join, user, backend-health, ...), never
// a user event's name, so the label stays bounded whatever is gossiped.
// Dropped counts events a hook never ran: evicted from a full queue, or
// still queued when the hook was removed or the runner stopped.
const (
	runsTotal    = "opengslb_hook_runs_total"
	droppedTotal = "opengslb_hook_dropped_total"
)

var (
	runDuration        = metrics.GetOrCreatePrometheusHistogram("opengslb_hook_duration_seconds")
	unexpectedMessages = metrics.GetOrCreateCounter("opengslb_hook_unexpected_messages_total")
)

func runsName(event, result string) string {
	return runsTotal + `{event="` + escapeLabel(event) + `",result="` + result + `"}`
}

func droppedName(event string) string {
	return droppedTotal + `{event="` + escapeLabel(event) + `"}`
}

func countRun(event, result string) { metrics.GetOrCreateCounter(runsName(event, result)).Inc() }

func countDropped(event string) { metrics.GetOrCreateCounter(droppedName(event)).Inc() }

// escapeLabel escapes a Prometheus label value; a raw quote or newline
// would make the metrics library panic.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
