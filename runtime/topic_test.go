package runtime

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

// collect reads what is buffered on ch without waiting.
func collect[T any](ch <-chan T) []T {
	var out []T
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, v)
		default:
			return out
		}
	}
}

func TestTopicFanOut(t *testing.T) {
	topic := NewTopic[int]("snapshots", nil)
	var subs []<-chan int
	for range 3 {
		ch, cancel := topic.Subscribe(4)
		defer cancel()
		subs = append(subs, ch)
	}
	for i := 1; i <= 3; i++ {
		topic.Publish(i)
	}
	for i, ch := range subs {
		if got := collect(ch); !slices.Equal(got, []int{1, 2, 3}) {
			t.Errorf("subscriber %d got %v, want [1 2 3]", i, got)
		}
	}
	if topic.Dropped() != 0 {
		t.Errorf("Dropped = %d, want 0", topic.Dropped())
	}
}

func TestTopicSlowSubscriberKeepsLatest(t *testing.T) {
	log := &eventLog{}
	topic := NewTopic[int]("snapshots", log.record)
	fast, cancelFast := topic.Subscribe(10)
	defer cancelFast()
	slow, cancelSlow := topic.Subscribe(1)
	defer cancelSlow()

	// Nobody reads while we publish: Publish must not block.
	for i := 1; i <= 5; i++ {
		topic.Publish(i)
	}
	if got := collect(fast); !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Errorf("fast subscriber got %v, want all five", got)
	}
	if got := collect(slow); !slices.Equal(got, []int{5}) {
		t.Errorf("slow subscriber got %v, want only the latest [5]", got)
	}
	if topic.Dropped() != 4 {
		t.Errorf("Dropped = %d, want 4", topic.Dropped())
	}
	ev := log.of(TopicDropped, "")
	if len(ev) != 4 || ev[3].Topic != "snapshots" || ev[3].Dropped != 4 || !errors.Is(ev[3].Err, ErrSubscriberFull) {
		t.Errorf("events = %+v, want four TopicDropped for snapshots", ev)
	}
}

func TestTopicUnsubscribe(t *testing.T) {
	topic := NewTopic[int]("snapshots", nil)
	ch, cancel := topic.Subscribe(1)
	cancel()
	cancel() // idempotent
	topic.Publish(1)
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after unsubscribe")
	}
	if topic.Dropped() != 0 {
		t.Errorf("Dropped = %d, want 0", topic.Dropped())
	}
}

// Unsubscribing while others publish must never send on a closed channel.
func TestTopicConcurrentPublishAndUnsubscribe(t *testing.T) {
	topic := NewTopic[int]("snapshots", nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 200 {
				topic.Publish(i)
			}
		})
		wg.Go(func() {
			for range 50 {
				ch, cancel := topic.Subscribe(2)
				collect(ch)
				cancel()
			}
		})
	}
	wg.Wait()
}
