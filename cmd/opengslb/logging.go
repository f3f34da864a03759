package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/runtime"
)

func newLogger(cfg config.Logging, out io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil || cfg.Level == "" {
		level = zerolog.InfoLevel
	}
	if cfg.Format == "console" {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.RFC3339}
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger()
}

func stderrLogger(cfg config.Logging) zerolog.Logger { return newLogger(cfg, os.Stderr) }

// runtimeEvents turns the runtime's typed events into log lines and
// metrics; the runtime itself neither logs nor counts.
func runtimeEvents(log zerolog.Logger) func(runtime.Event) {
	log = log.With().Str("component", "runtime").Logger()
	return func(e runtime.Event) {
		switch e.Kind {
		case runtime.ActorFailed:
			ev := log.Error().Err(e.Err).Str("actor", e.Actor)
			if len(e.Stack) > 0 {
				ev = ev.Bytes("stack", e.Stack)
			}
			ev.Msg("actor failed")
		case runtime.ActorRestarting:
			metrics.GetOrCreateCounter(restartsSeries(e.Actor)).Inc()
			log.Warn().Str("actor", e.Actor).Dur("backoff", e.Backoff).Int("restarts", e.Restarts).Msg("restarting actor")
		case runtime.ActorEscalated:
			log.Error().Err(e.Err).Str("actor", e.Actor).Msg("actor failed too often; shutting down")
		case runtime.ActorNotReady, runtime.ActorAbandoned:
			log.Error().Err(e.Err).Str("actor", e.Actor).Str("event", e.Kind.String()).Msg("actor lifecycle problem")
		case runtime.MailboxDropped:
			metrics.GetOrCreateCounter(fmt.Sprintf(`opengslb_mailbox_dropped_total{mailbox=%q}`, e.Mailbox)).Inc()
			log.Warn().Err(e.Err).Str("mailbox", e.Mailbox).Str("policy", e.Policy.String()).Msg("message dropped")
		case runtime.TopicDropped:
			metrics.GetOrCreateCounter(fmt.Sprintf(`opengslb_topic_dropped_total{topic=%q}`, e.Topic)).Inc()
		default:
			log.Debug().Str("actor", e.Actor).Str("event", e.Kind.String()).Msg("actor lifecycle")
		}
	}
}

func restartsSeries(actor string) string {
	return fmt.Sprintf(`opengslb_actor_restarts_total{actor=%q}`, actor)
}

// supervise adds a to sup and exports its restart counter at 0 at once, so
// alert rules on it evaluate from the start rather than after a restart.
func supervise(sup *runtime.Supervisor, a runtime.Actor) {
	sup.Add(a)
	metrics.GetOrCreateCounter(restartsSeries(a.Name()))
}
