package ws

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"
)

// heldPublisher holds every publish until release is closed and records the payloads.
type heldPublisher struct {
	release chan struct{}
	mu      sync.Mutex
	got     []string
}

func (p *heldPublisher) PublishFrame(_ context.Context, _, _, _ string, payload []byte) error {
	<-p.release
	p.mu.Lock()
	p.got = append(p.got, string(payload))
	p.mu.Unlock()
	return nil
}

// While the other nodes cannot be reached, the publish queue keeps maxPublishQueue frames;
// the next are dropped and counted, and the kept ones are published in order afterwards.
func TestPublishQueueFull(t *testing.T) {
	p := &heldPublisher{release: make(chan struct{})}
	s := raceServer(t, Params{Publisher: p})
	var once sync.Once
	letGo := func() { once.Do(func() { close(p.release) }) }
	t.Cleanup(letGo) // before raceServer's cleanup waits for the publishing goroutine

	const over = 10
	for i := range maxPublishQueue + over {
		s.broadcast("1", "private-x", []byte(strconv.Itoa(i)), "")
	}
	if got := s.Stats().PublishesDropped; got != over {
		t.Errorf("dropped %d frames, want %d", got, over)
	}
	letGo()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		n := len(p.got)
		p.mu.Unlock()
		if n >= maxPublishQueue || time.Now().After(deadline) {
			break
		}
	}
	s.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.got) != maxPublishQueue {
		t.Fatalf("published %d frames, want %d", len(p.got), maxPublishQueue)
	}
	for i, payload := range p.got {
		if payload != strconv.Itoa(i) {
			t.Fatalf("frame %d published is %s: the order is lost", i, payload)
		}
	}
}
