package jobs

import (
	"sync"

	"github.com/hibiken/asynq"
)

// asynqServer starts an asynq server at most once and stops it once; a server stopped before
// it started never starts. Both queues' Run and Shutdown may race, from different goroutines.
type asynqServer struct {
	server *asynq.Server

	mu      sync.Mutex
	started bool // guarded by mu: the server was started
	stopped bool // guarded by mu: the server was stopped, or must never start
}

// start starts the server with h, or with enqueueOnly runs none; it reports false, starting
// nothing, when the server was stopped first.
func (s *asynqServer) start(h asynq.Handler, enqueueOnly bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false, nil
	}
	if enqueueOnly {
		return true, nil
	}
	if err := s.server.Start(h); err != nil {
		return false, err
	}
	s.started = true
	return true, nil
}

// stop stops the server once: its workers finish or give back their tasks.
func (s *asynqServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	if s.started {
		s.server.Stop()
		s.server.Shutdown()
	}
}

// running reports whether the server was started and not stopped yet.
func (s *asynqServer) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started && !s.stopped
}
