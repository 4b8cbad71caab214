package ws

import (
	"hash/maphash"
	"sync"
)

const connShards = 64

// connSet is every open connection of the node by socket id, split into shards so that
// accepts and releases on different sockets rarely share a lock.
type connSet struct {
	seed   maphash.Seed
	shards [connShards]struct {
		mu    sync.RWMutex
		conns map[string]*Conn
	}
}

func (cs *connSet) init() {
	cs.seed = maphash.MakeSeed()
	for i := range cs.shards {
		cs.shards[i].conns = map[string]*Conn{}
	}
}

func (cs *connSet) shard(id string) int {
	return int(maphash.String(cs.seed, id) % connShards)
}

// add gives c a socket id unique on this node and stores it.
func (cs *connSet) add(c *Conn) string {
	for {
		id := newSocketID()
		sh := &cs.shards[cs.shard(id)]
		sh.mu.Lock()
		if _, taken := sh.conns[id]; !taken {
			sh.conns[id] = c
			sh.mu.Unlock()
			return id
		}
		sh.mu.Unlock()
	}
}

// put stores c under its socket id, unless the id is taken; it reports whether it did.
func (cs *connSet) put(c *Conn) bool {
	sh := &cs.shards[cs.shard(c.id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, taken := sh.conns[c.id]; taken {
		return false
	}
	sh.conns[c.id] = c
	return true
}

func (cs *connSet) remove(c *Conn) {
	sh := &cs.shards[cs.shard(c.id)]
	sh.mu.Lock()
	if sh.conns[c.id] == c {
		delete(sh.conns, c.id)
	}
	sh.mu.Unlock()
}

func (cs *connSet) len() int {
	n := 0
	for i := range cs.shards {
		sh := &cs.shards[i]
		sh.mu.RLock()
		n += len(sh.conns)
		sh.mu.RUnlock()
	}
	return n
}

// each calls f for every connection, without holding any lock while f runs.
func (cs *connSet) each(f func(*Conn)) {
	var batch []*Conn
	for i := range cs.shards {
		sh := &cs.shards[i]
		sh.mu.RLock()
		batch = batch[:0]
		for _, c := range sh.conns {
			batch = append(batch, c)
		}
		sh.mu.RUnlock()
		for _, c := range batch {
			f(c)
		}
	}
}
