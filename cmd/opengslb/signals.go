package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// daemonSignals is how a daemon hears the operator: ctx ends on SIGINT or
// SIGTERM (an ordered shutdown), and reloads receives one value per SIGHUP;
// several signals while a reload runs collapse into one more reload. stop
// releases the signal handlers.
func daemonSignals() (ctx context.Context, reloads <-chan struct{}, stop func()) {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	out := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hups:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ctx, out, func() {
		cancel()
		signal.Stop(hups)
		<-done
	}
}
