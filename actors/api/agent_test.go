package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestAgentAPI(t *testing.T) {
	var joined atomic.Bool
	a := NewAgent(zerolog.Nop(), "127.0.0.1:0", AgentSources{
		Ready: func() string {
			if joined.Load() {
				return ""
			}
			return "not joined to any overwatch yet"
		},
		Backends: func() any { return map[string]any{"backends": []string{"webapp/10.0.1.10:80"}} },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("agent API did not stop within 10s")
		}
	}()
	select {
	case <-a.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("agent API not ready within 5s")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	get := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := client.Get("http://" + a.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("%s: body is not JSON: %v", path, err)
		}
		return resp.StatusCode, body
	}
	if code, _ := get("/api/v1/live"); code != 200 {
		t.Errorf("live: %d", code)
	}
	if code, body := get("/api/v1/ready"); code != 503 || body["detail"] != "not joined to any overwatch yet" {
		t.Errorf("ready before joining: %d %v, want 503 with the reason", code, body)
	}
	joined.Store(true)
	if code, _ := get("/api/v1/ready"); code != 200 {
		t.Errorf("ready after joining: %d", code)
	}
	if code, body := get("/api/v1/agent/backends"); code != 200 || body["backends"] == nil {
		t.Errorf("backends: %d %v", code, body)
	}
	if code, body := get("/api/v1/nope"); code != 404 || body["error"] == nil {
		t.Errorf("unknown path: %d %v, want 404 with an error body", code, body)
	}
}
