package main

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
)

// The drain run against two real servers: every client the first closes with 4200 comes
// back subscribed on the second, and the curve shows the closes spread over the drain window.
func TestDrainRun(t *testing.T) {
	const conns = 200
	draining, pid := startReverbd(t, nil, "REVERB_SHUTDOWN_DRAIN=1s")
	failover, _ := startReverbd(t, nil)
	o, err := parseFlags([]string{"--drain", "--json-only", "--app-id", stormAppID, "--key", stormKey, "--secret", stormSecret,
		"--url", draining, "--failover-url", failover, "--server-pid", strconv.Itoa(pid), "--conns", strconv.Itoa(conns),
		"--warmup", "0s", "--timeout", "20s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDrain(o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rep := d.run(context.Background())
	var table strings.Builder
	rep.writeTable(&table)
	t.Log("\n" + table.String())
	if rep.Subscribed != conns || rep.Closed4200 != conns || rep.Reconnected != conns || len(rep.Failed) > 0 {
		t.Errorf("subscribed %d, closed with 4200 %d, reconnected %d, failed %v; want all %d and none failed",
			rep.Subscribed, rep.Closed4200, rep.Reconnected, rep.Failed, conns)
	}
	if rep.MaxClosedPer100 >= conns/2 || rep.LastCloseS-rep.FirstCloseS < 0.8 {
		t.Errorf("closes from %.3f s to %.3f s, at most %d in 100 ms: want them spread over the 1 s window",
			rep.FirstCloseS, rep.LastCloseS, rep.MaxClosedPer100)
	}
	sum := 0
	for _, n := range rep.BackPer100 {
		sum += n
	}
	if sum != rep.Reconnected || len(rep.BackPer100) != len(rep.ClosedPer100) {
		t.Errorf("the curve counts %d reconnects in %d buckets (%d of closes), want %d", sum, len(rep.BackPer100), len(rep.ClosedPer100), rep.Reconnected)
	}
}
