package health

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/opengslb/opengslb/messages"
)

// Metric families, in VictoriaMetrics' default set (served on /metrics):
//
//	opengslb_health_checks_total{service,backend,result="success"|"failure"}  counter
//	opengslb_backend_healthy{service,backend}                                 gauge
//	opengslb_health_check_duration_seconds{service,backend}                   histogram
//	opengslb_health_unexpected_messages_total                                 counter
//
// opengslb_backend_healthy is 1 for healthy, 0 for unhealthy and -1 for
// unknown (not yet checked enough times to decide), so "== 0" alerts only on
// a real verdict. The per-backend series are unregistered when the backend
// leaves the configuration, so a removed backend does not linger as stale.
const (
	checksTotal   = "opengslb_health_checks_total"
	backendHealth = "opengslb_backend_healthy"
	checkDuration = "opengslb_health_check_duration_seconds"
)

var unexpectedMessages = metrics.GetOrCreateCounter("opengslb_health_unexpected_messages_total")

// targetMetrics are the series of one backend.
type targetMetrics struct {
	names    []string
	success  *metrics.Counter
	failure  *metrics.Counter
	healthy  *metrics.Gauge
	duration *metrics.PrometheusHistogram
}

func newTargetMetrics(key messages.BackendKey) *targetMetrics {
	labels := `service="` + escapeLabel(key.Service) + `",backend="` + escapeLabel(key.Endpoint()) + `"`
	m := &targetMetrics{names: []string{
		checksTotal + "{" + labels + `,result="success"}`,
		checksTotal + "{" + labels + `,result="failure"}`,
		backendHealth + "{" + labels + "}",
		checkDuration + "{" + labels + "}",
	}}
	m.success = metrics.GetOrCreateCounter(m.names[0])
	m.failure = metrics.GetOrCreateCounter(m.names[1])
	m.healthy = metrics.GetOrCreateGauge(m.names[2], nil)
	m.duration = metrics.GetOrCreatePrometheusHistogram(m.names[3])
	return m
}

func (m *targetMetrics) setState(s messages.HealthState) {
	switch s {
	case messages.HealthHealthy:
		m.healthy.Set(1)
	case messages.HealthUnhealthy:
		m.healthy.Set(0)
	default:
		m.healthy.Set(-1)
	}
}

func (m *targetMetrics) unregister() {
	for _, n := range m.names {
		metrics.UnregisterMetric(n)
	}
}

// escapeLabel escapes a Prometheus label value. Service names are validated
// by config, but a newline would make the metrics library panic.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
