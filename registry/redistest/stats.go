package redistest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stats is what a Redis reports of its work so far (INFO stats, commandstats and cpu), for
// benchmarks that measure what reverbd costs a Redis: take one before and one after, and
// Since gives the difference. Redis counts every command it runs, those a Lua script or a
// MULTI runs included.
type Stats struct {
	At       time.Time
	Commands int64            // total_commands_processed
	Calls    map[string]int64 // commandstats calls by command name ("evalsha", "client|setinfo")
	CPU      time.Duration    // used_cpu_user + used_cpu_sys of the redis-server process
}

// ReadStats takes a Stats sample of rdb's server.
func ReadStats(ctx context.Context, rdb *redis.Client) (Stats, error) {
	info, err := rdb.Info(ctx, "stats", "commandstats", "cpu").Result()
	if err != nil {
		return Stats{}, fmt.Errorf("redistest: INFO: %w", err)
	}
	s := Stats{At: time.Now(), Calls: map[string]int64{}}
	var cpu float64
	for line := range strings.Lines(info) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch {
		case name == "total_commands_processed":
			s.Commands, _ = strconv.ParseInt(value, 10, 64)
		case name == "used_cpu_user" || name == "used_cpu_sys":
			f, _ := strconv.ParseFloat(value, 64)
			cpu += f
		case strings.HasPrefix(name, "cmdstat_"):
			// cmdstat_evalsha:calls=12,usec=345,usec_per_call=28.75,...
			calls, _, _ := strings.Cut(strings.TrimPrefix(value, "calls="), ",")
			s.Calls[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.ParseInt(calls, 10, 64)
		}
	}
	s.CPU = time.Duration(cpu * float64(time.Second))
	return s, nil
}

// Work is what a Redis did between two Stats samples, less the INFO commands that took the
// samples.
type Work struct {
	Elapsed  time.Duration
	Commands int64            // every command run, a script's own commands included
	Calls    map[string]int64 // by command name, only those called
	CPU      time.Duration    // the redis-server process's CPU time
}

// Since returns the work done from prev to s.
func (s Stats) Since(prev Stats) Work {
	w := Work{Elapsed: s.At.Sub(prev.At), Commands: s.Commands - prev.Commands, Calls: map[string]int64{}, CPU: s.CPU - prev.CPU}
	for name, n := range s.Calls {
		if d := n - prev.Calls[name]; d > 0 && name != "info" {
			w.Calls[name] = d
		}
	}
	w.Commands -= s.Calls["info"] - prev.Calls["info"]
	return w
}

// PerSecond is n per second of w's elapsed time.
func (w Work) PerSecond(n int64) float64 {
	if w.Elapsed <= 0 {
		return 0
	}
	return float64(n) / w.Elapsed.Seconds()
}

// Scripts is the number of scripts run (EVALSHA and EVAL calls).
func (w Work) Scripts() int64 { return w.Calls["evalsha"] + w.Calls["eval"] }

// Breakdown lists the commands by calls, most called first, as "name calls" pairs joined by
// ", ", each count scaled by per (e.g. 1/seconds for a rate; 1 for counts), given to three
// significant digits, or as a whole number from 100 on.
func (w Work) Breakdown(per float64) string {
	names := slices.SortedFunc(maps.Keys(w.Calls), func(a, b string) int {
		if w.Calls[a] != w.Calls[b] {
			return int(w.Calls[b] - w.Calls[a])
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(names))
	for _, name := range names {
		v := float64(w.Calls[name]) * per
		f := strconv.FormatFloat(v, 'g', 3, 64)
		if v >= 100 {
			f = strconv.FormatFloat(v, 'f', 0, 64)
		}
		parts = append(parts, name+" "+f)
	}
	return strings.Join(parts, ", ")
}

// Slow is what a Redis's slow log holds: the commands that took longer than its
// slowlog-log-slower-than setting, a script (with every command it runs) as one entry.
type Slow struct {
	Entries     int
	Longest     time.Duration
	LongestName string          // the longest command's name, e.g. "evalsha"
	Scripts     []time.Duration // the EVALSHA and EVAL entries, shortest first
}

// ReadSlow reads rdb's slow log.
func ReadSlow(ctx context.Context, rdb *redis.Client) (Slow, error) {
	log, err := rdb.SlowLogGet(ctx, -1).Result()
	if err != nil {
		return Slow{}, fmt.Errorf("redistest: SLOWLOG GET: %w", err)
	}
	s := Slow{Entries: len(log)}
	for _, e := range log {
		name := ""
		if len(e.Args) > 0 {
			name = strings.ToLower(e.Args[0])
		}
		if e.Duration > s.Longest {
			s.Longest, s.LongestName = e.Duration, name
		}
		if name == "evalsha" || name == "eval" {
			s.Scripts = append(s.Scripts, e.Duration)
		}
	}
	slices.Sort(s.Scripts)
	return s, nil
}

// Median is the median of d, which is sorted; zero when d is empty.
func Median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[len(d)/2]
}

// WatchLatency sends PING to rdb in a loop, every interval, until the returned stop is
// called; stop returns the longest round trip seen and the number of PINGs. A PING that
// fails counts as the time it took to fail.
func WatchLatency(rdb *redis.Client, interval time.Duration) (stop func() (time.Duration, int)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var longest time.Duration
	var n int
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			start := time.Now()
			_ = rdb.Ping(ctx).Err()
			if ctx.Err() != nil {
				return // a PING cut short by stop is not a measurement
			}
			longest, n = max(longest, time.Since(start)), n+1
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() (time.Duration, int) {
		cancel()
		wg.Wait()
		return longest, n
	}
}
