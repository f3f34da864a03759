package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
	"github.com/opengslb/opengslb/messages"
	"github.com/opengslb/opengslb/runtime"
)

var (
	reloadsOK        = metrics.NewCounter(`opengslb_config_reloads_total{result="success"}`)
	reloadsFailed    = metrics.NewCounter(`opengslb_config_reloads_total{result="failure"}`)
	lastReloadOK     = metrics.NewGauge(`opengslb_config_last_reload_success_timestamp_seconds`, nil)
	configLoadedAt   = metrics.NewGauge(`opengslb_config_loaded_timestamp_seconds`, nil)
	configGeneration = metrics.NewGauge(`opengslb_config_generation`, nil)
)

// reloader owns the configuration in force. It re-reads the file when asked
// (SIGHUP) and hands a valid one to the actors that use it; an invalid file,
// or one that changes what cannot change live, is refused and the running
// configuration keeps serving.
type reloader struct {
	log  zerolog.Logger
	path string
	load func(string) (*config.Config, error)
	// consumers receive every applied configuration, in order.
	consumers []configConsumer
	signals   <-chan struct{}
	// requests carries POST /api/v1/reload, which wants the outcome.
	requests *runtime.Mailbox[messages.ReloadMsg]

	current    *config.Config
	generation uint64
}

// configConsumer is an actor that takes applied configurations.
type configConsumer struct {
	name string
	send func(context.Context, messages.ConfigApplied) error
}

// consumer adapts a mailbox whose message type ConfigApplied belongs to.
func consumer[T any](name string, to runtime.Address[T], wrap func(messages.ConfigApplied) T) configConsumer {
	return configConsumer{name: name, send: func(ctx context.Context, m messages.ConfigApplied) error {
		return to.Send(ctx, wrap(m))
	}}
}

func (r *reloader) Name() string { return "reload" }

func (r *reloader) Run(ctx context.Context) error {
	var requests <-chan messages.ReloadMsg
	if r.requests != nil {
		requests = r.requests.Receive()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.signals:
			r.handle(ctx)
		case msg := <-requests:
			req, ok := msg.(messages.ReloadRequest)
			if !ok {
				r.log.Warn().Type("message", msg).Msg("unknown message dropped")
				continue
			}
			res := r.handle(ctx)
			if req.Reply != nil {
				select {
				case req.Reply <- res:
				default: // the asker gave up; the outcome is in the log
				}
			}
		}
	}
}

// handle runs one reload and counts and logs its outcome.
func (r *reloader) handle(ctx context.Context) messages.ReloadResult {
	res := r.reload(ctx)
	if res.Err != nil {
		reloadsFailed.Inc()
		r.log.Error().Err(res.Err).Str("file", r.path).Msg("reload refused; the running configuration keeps serving")
		return res
	}
	reloadsOK.Inc()
	lastReloadOK.Set(float64(time.Now().Unix()))
	return res
}

func (r *reloader) reload(ctx context.Context) messages.ReloadResult {
	res := messages.ReloadResult{Generation: r.generation}
	if r.path == "" {
		res.Err = fmt.Errorf("reload: this node runs the built-in demo configuration, which has no file to re-read")
		return res
	}
	next, err := r.load(r.path)
	if err != nil {
		res.Err = fmt.Errorf("reload %s: %w", r.path, err)
		return res
	}
	changes := config.Diff(r.current, next)
	var refused []string
	for _, c := range changes {
		if !c.Live {
			line := ""
			if n := next.LineOf(c.Field); n > 0 {
				line = fmt.Sprintf("%s:%d: ", r.path, n)
			}
			refused = append(refused, fmt.Sprintf("%s%s cannot change without a restart (%s → %s)", line, c.Field, c.Old, c.New))
		}
	}
	if len(refused) > 0 {
		res.Err = fmt.Errorf("reload %s: %s", r.path, strings.Join(refused, "; "))
		return res
	}
	if len(changes) == 0 {
		r.log.Info().Str("file", r.path).Msg("reload: configuration unchanged")
		return res
	}
	r.generation++
	applied := messages.ConfigApplied{Config: next, Generation: r.generation}
	for _, c := range r.consumers {
		if err := c.send(ctx, applied); err != nil {
			res.Err = fmt.Errorf("reload %s: hand the new configuration to the %s actor: %w", r.path, c.name, err)
			return res
		}
	}
	r.current = next
	configLoadedAt.Set(float64(time.Now().Unix()))
	configGeneration.Set(float64(r.generation))
	summary := make([]string, 0, len(changes))
	for _, c := range changes {
		summary = append(summary, c.String())
	}
	r.log.Info().Str("file", r.path).Uint64("generation", r.generation).Strs("changes", summary).Msg("configuration reloaded")
	return messages.ReloadResult{Applied: true, Generation: r.generation, Changes: summary}
}
