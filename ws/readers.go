package ws

import "sync/atomic"

// maxIdleReaders is the most reader goroutines kept waiting for the next readable socket.
const maxIdleReaders = 64

// readerPool runs wake-ups (Conn.readable) on goroutines that outlive them: a goroutine
// starts with a small stack and grows it, copying, when a wake-up needs more, and a kept
// goroutine keeps its grown stack for the next one. A wake-up never waits for a reader: when
// none is idle it gets a new goroutine, which afterwards stays as an idle reader while fewer
// than maxIdleReaders are. Readers are kept only while the server's Run runs; an idle
// connection still has no goroutine.
type readerPool struct {
	srv  *Server
	work chan *Conn // unbuffered: hands a wake-up to an idle reader
	idle atomic.Int32
	keep atomic.Int32  // how many idle readers are kept: maxIdleReaders while Run runs, else 0
	quit chan struct{} // closed when Run returns: idle readers end
}

func (p *readerPool) init(s *Server) {
	p.srv = s
	p.work = make(chan *Conn)
	p.quit = make(chan struct{})
}

// start keeps idle readers from now on; stop ends them. Run calls both, once.
func (p *readerPool) start() { p.keep.Store(maxIdleReaders) }

func (p *readerPool) stop() {
	p.keep.Store(0)
	close(p.quit)
}

// run hands c's wake-up to an idle reader, or to a new one.
func (p *readerPool) run(c *Conn) {
	select {
	case p.work <- c:
	default:
		p.srv.spawn(func() { p.serve(c) })
	}
}

// serve runs c's wake-up, then the ones handed to it while it is idle.
func (p *readerPool) serve(c *Conn) {
	for c != nil {
		c.readable()
		c = p.next()
	}
}

// next waits as an idle reader for the next wake-up; nil when enough readers are idle
// already or the pool has stopped.
func (p *readerPool) next() *Conn {
	if p.idle.Add(1) > p.keep.Load() {
		p.idle.Add(-1)
		return nil
	}
	defer p.idle.Add(-1)
	select {
	case c := <-p.work:
		return c
	case <-p.quit:
		return nil
	}
}
