package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// pcts are percentiles in milliseconds.
type pcts struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean,omitempty"`
}

// report is the result of a run; its exported fields are the JSON line.
type report struct {
	Mode        string  `json:"mode"` // "run" or "idle"
	URL         string  `json:"url"`
	Channel     string  `json:"channel"`
	ChannelKind string  `json:"channel_kind"`
	Channels    int     `json:"channels"`
	Conns       int     `json:"conns"`
	Slow        int     `json:"slow"`
	Events      int     `json:"events"`
	Rate        float64 `json:"rate"`
	Publishers  int     `json:"publishers"`
	Batch       int     `json:"batch"`
	Payload     int     `json:"payload"`

	Connected        int            `json:"connected"`
	Subscribed       int            `json:"subscribed"`
	ConnectErrors    map[string]int `json:"connect_errors,omitempty"`
	SubscribeErrors  map[string]int `json:"subscribe_errors,omitempty"`
	ConnectSeconds   float64        `json:"connect_s"`
	ConnectMs        *pcts          `json:"connect_ms,omitempty"`
	SubscribeSeconds float64        `json:"subscribe_s"`
	SubscribeMs      *pcts          `json:"subscribe_ms,omitempty"`

	PublishSeconds   float64        `json:"publish_s"`
	PublishRate      float64        `json:"publish_rate"`
	Requests         int64          `json:"requests"`
	Accepted         int64          `json:"accepted"`
	HTTPStatus       map[string]int `json:"http_status,omitempty"`
	APIMs            *pcts          `json:"api_ms,omitempty"`
	Expected         int64          `json:"expected"`
	Delivered        int64          `json:"delivered"`
	Lost             int64          `json:"lost"`
	Duplicates       int64          `json:"duplicates"`
	OutOfOrder       int64          `json:"out_of_order"`
	Unexpected       int64          `json:"unexpected"`
	DeliverySeconds  float64        `json:"delivery_s"`
	DeliveriesPerSec float64        `json:"deliveries_per_s"`
	LatencyMs        *pcts          `json:"latency_ms,omitempty"`
	PresenceFrames   int64          `json:"presence_frames,omitempty"`
	EarlyFrames      int64          `json:"member_frames_before_subscribed,omitempty"`
	PresenceMissed   int64          `json:"members_missing_from_list,omitempty"`
	PresenceShort    int64          `json:"presence_views_short,omitempty"`
	Dropped          map[string]int `json:"dropped,omitempty"`

	SlowOutcomes     map[string]int `json:"slow_outcomes,omitempty"`
	SlowDisconnected int            `json:"slow_disconnected"`
	SlowEvents       int64          `json:"slow_events_received"`
	SlowMiBOffered   float64        `json:"slow_mib_offered_each,omitempty"`

	ServerRSSBeforeMiB *float64 `json:"server_rss_before_mib,omitempty"`
	ServerRSSIdleMiB   *float64 `json:"server_rss_idle_mib,omitempty"`
	ServerRSSAfterMiB  *float64 `json:"server_rss_after_mib,omitempty"`
	RSSPerConnKiB      *float64 `json:"server_rss_per_conn_kib,omitempty"`
	CPUSelfConnect     float64  `json:"cpu_self_connect_pct"`
	CPUSelfRun         float64  `json:"cpu_self_run_pct"`
	CPUServerConnect   float64  `json:"cpu_server_connect_pct"` // -1: unknown
	CPUServerRun       float64  `json:"cpu_server_run_pct"`     // -1: unknown
	SelfMaxRSSMiB      float64  `json:"self_max_rss_mib"`
	NofileLimit        uint64   `json:"nofile_limit"`

	rssBefore, rssIdle, rssAfter, selfMaxRSS int64
	runEnd                                   time.Time
}

// newReport fills in the parameters of the run.
func newReport(b *bench) *report {
	o := b.opt
	r := &report{Mode: "run", URL: o.url, Channel: o.channel, ChannelKind: b.kind, Channels: o.channels,
		Conns: o.conns, Slow: o.slow, Events: o.events, Rate: o.rate, Publishers: o.publishers,
		Batch: o.batch, Payload: o.payload, NofileLimit: b.nofile}
	if o.idle {
		r.Mode = "idle"
		r.Events = 0
	}
	return r
}

// collect computes the figures from the clients once every reader has returned.
func (r *report) collect(b *bench, pub *pubResult) {
	o := b.opt
	k := len(b.channels)
	var acc [][]uint64 // per channel, same layout as client.seen
	if pub != nil {
		words := len(b.clients[0].seen)
		acc = make([][]uint64, k)
		for ch := range acc {
			acc[ch] = make([]uint64, words)
		}
		for seq, ok := range pub.accepted {
			if ok {
				j := seq / k
				acc[seq%k][j/64] |= 1 << (j % 64)
			}
		}
	}

	// Presence: how many distinct users ended up subscribed to each channel (one per
	// connection), to check each reading client's view of the member list.
	users := make([]int64, k)
	for _, c := range b.clients {
		if c.subOK.Load() && c.outcome == "" {
			users[c.ch]++
		}
	}

	var connD, subD []time.Duration
	var dials dialSpan
	var lastSub time.Time
	var lastRecv, total int64
	for _, c := range b.clients {
		if c.nc == nil {
			continue
		}
		r.Connected++
		connD = append(connD, c.dialDone.Sub(c.dialStart))
		dials.add(c.dialStart, c.dialDone)
		if !c.subOK.Load() {
			continue
		}
		r.Subscribed++
		subD = append(subD, c.subscribedAt.Sub(c.dialDone))
		if c.subscribedAt.After(lastSub) {
			lastSub = c.subscribedAt
		}
		r.PresenceFrames += c.members
		r.EarlyFrames += c.early
		r.PresenceMissed += c.missed
		if b.kind == "presence" && !c.slow && c.outcome == "" && c.view < users[c.ch] {
			r.PresenceShort++
		}
		if c.slow {
			if r.SlowOutcomes == nil {
				r.SlowOutcomes = map[string]int{}
			}
			out := c.outcome
			if out == "" {
				out = "open"
			}
			r.SlowOutcomes[out]++
			if out != "open" {
				r.SlowDisconnected++
			}
			r.SlowEvents += c.recv.Load()
			continue
		}
		if c.outcome != "" {
			if r.Dropped == nil {
				r.Dropped = map[string]int{}
			}
			r.Dropped[c.outcome]++
		}
		if pub == nil {
			continue
		}
		lost := popcountAndNot(acc[c.ch], c.seen)
		r.Expected += pub.perChannel[c.ch]
		r.Lost += lost
		r.Delivered += pub.perChannel[c.ch] - lost
		r.Unexpected += popcountAndNot(c.seen, acc[c.ch]) + c.foreign + c.bad
		r.Duplicates += c.dups
		r.OutOfOrder += c.ooo
		total += c.recv.Load() + c.dups
		lastRecv = max(lastRecv, c.lastRecv.Load())
	}
	r.ConnectMs, r.SubscribeMs = durations(connD), durations(subD)
	if first := dials.first; !first.IsZero() {
		r.ConnectSeconds = secs(dials.last.Sub(first))
		if !lastSub.IsZero() {
			r.SubscribeSeconds = secs(lastSub.Sub(first))
		}
	}
	r.ConnectErrors, r.SubscribeErrors = nonEmpty(b.dialErrs), nonEmpty(b.subErrs)

	if pub != nil {
		r.PublishSeconds = secs(pub.end.Sub(pub.start))
		if r.PublishSeconds > 0 {
			r.PublishRate = round(float64(pub.sent)/pub.end.Sub(pub.start).Seconds(), 1)
		}
		r.Requests, r.Accepted, r.HTTPStatus = pub.requests, pub.nAccepted, nonEmpty(pub.statuses)
		api := snapshot(pub.api)
		r.APIMs = histPcts(api)
		if lastRecv > 0 {
			window := time.Duration(lastRecv - pub.start.UnixNano())
			r.DeliverySeconds = secs(window)
			if window > 0 {
				r.DeliveriesPerSec = round(float64(total)/window.Seconds(), 0)
			}
		}
		r.LatencyMs = histPcts(snapshot(b.latency...))
		if o.slow > 0 && len(b.channels) > 0 {
			// Approximate bytes the server had to write to each slow connection.
			frame := len(`{"event":"`+benchEvent+`","channel":"","data":""}`) + len(b.channels[0]) +
				len(appendJSONString(nil, string(appendData(nil, uint64(o.events), time.Now().UnixNano(), o.payload)))) + 4
			r.SlowMiBOffered = round(float64(pub.nAccepted)/float64(k)*float64(frame)/(1<<20), 2)
		}
	}

	r.ServerRSSBeforeMiB, r.ServerRSSIdleMiB, r.ServerRSSAfterMiB = mib(r.rssBefore), mib(r.rssIdle), mib(r.rssAfter)
	if r.rssBefore > 0 && r.rssIdle > 0 && r.Subscribed > 0 {
		v := round(float64(r.rssIdle-r.rssBefore)/float64(r.Subscribed)/1024, 2)
		r.RSSPerConnKiB = &v
	}
	r.CPUSelfConnect, r.CPUSelfRun = round(r.CPUSelfConnect, 1), round(r.CPUSelfRun, 1)
	r.CPUServerConnect, r.CPUServerRun = round(r.CPUServerConnect, 1), round(r.CPUServerRun, 1)
	r.SelfMaxRSSMiB = round(float64(r.selfMaxRSS)/(1<<20), 1)
}

// histPcts converts a snapshot of nanoseconds to millisecond percentiles; nil if empty.
func histPcts(s *histSnapshot) *pcts {
	if s.Count() == 0 {
		return nil
	}
	return &pcts{P50: ms(s.Percentile(50)), P90: ms(s.Percentile(90)), P99: ms(s.Percentile(99)),
		Max: ms(s.Max()), Mean: ms(int64(s.Mean()))}
}

func nonEmpty(m map[string]int) map[string]int {
	if len(m) == 0 {
		return nil
	}
	return m
}

func secs(d time.Duration) float64 { return round(d.Seconds(), 3) }

func mib(v int64) *float64 {
	if v < 0 {
		return nil
	}
	f := round(float64(v)/(1<<20), 1)
	return &f
}

// round rounds v to n decimals.
func round(v float64, n int) float64 {
	p := 1.0
	for range n {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}

// writeJSON writes the report as one JSON line.
func (r *report) writeJSON(w io.Writer) error { return writeJSONLine(w, r) }

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeTable writes the report for a human.
func (r *report) writeTable(w io.Writer) {
	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(t, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	chans := r.Channel
	if r.Channels > 1 {
		chans = fmt.Sprintf("%s-0 … %s-%d", r.Channel, r.Channel, r.Channels-1)
	}
	row("run", "%s, %s, %s channel(s) %s", r.Mode, r.URL, r.ChannelKind, chans)
	row("connections", "%d asked, %d open, %d subscribed%s%s", r.Conns, r.Connected, r.Subscribed,
		counts("; connect errors: ", r.ConnectErrors), counts("; subscribe errors: ", r.SubscribeErrors))
	if r.ConnectMs != nil {
		row("connect", "all in %.3f s; per connection p50 %.2f ms, p99 %.2f ms, max %.2f ms",
			r.ConnectSeconds, r.ConnectMs.P50, r.ConnectMs.P99, r.ConnectMs.Max)
	}
	if r.SubscribeMs != nil {
		row("subscribe", "all in %.3f s from the first dial; per connection (handshake→succeeded) p50 %.2f ms, p99 %.2f ms, max %.2f ms",
			r.SubscribeSeconds, r.SubscribeMs.P50, r.SubscribeMs.P99, r.SubscribeMs.Max)
	}
	if r.Mode == "run" && r.Requests > 0 {
		row("publish", "%d events in %.3f s = %.0f events/s (%d requests, %d events accepted; HTTP %s)",
			r.Events, r.PublishSeconds, r.PublishRate, r.Requests, r.Accepted, counts("", r.HTTPStatus))
		if r.APIMs != nil {
			row("API round trip", "p50 %.2f ms, p99 %.2f ms, max %.2f ms", r.APIMs.P50, r.APIMs.P99, r.APIMs.Max)
		}
		row("deliveries", "%d of %d expected in %.3f s (first send → last receipt) = %.0f deliveries/s",
			r.Delivered, r.Expected, r.DeliverySeconds, r.DeliveriesPerSec)
		if r.LatencyMs != nil {
			row("latency", "p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, mean %.3f ms",
				r.LatencyMs.P50, r.LatencyMs.P90, r.LatencyMs.P99, r.LatencyMs.Max, r.LatencyMs.Mean)
		}
		row("lost / duplicated", "%d lost, %d duplicated, %d out of order, %d unexpected", r.Lost, r.Duplicates, r.OutOfOrder, r.Unexpected)
	}
	if r.PresenceFrames > 0 {
		row("presence frames", "%d member_added/removed after subscription_succeeded, %d before it (%d of those members missing from its list)",
			r.PresenceFrames, r.EarlyFrames, r.PresenceMissed)
		row("presence views", "%d clients know fewer members than are subscribed (list count + added − removed)", r.PresenceShort)
	}
	row("dropped by server", "%s", orNone(counts("", r.Dropped)))
	if r.Slow > 0 {
		row("slow consumers", "%d of %d disconnected (%s); %d events reached them; ~%.2f MiB offered to each",
			r.SlowDisconnected, r.Slow, counts("", r.SlowOutcomes), r.SlowEvents, r.SlowMiBOffered)
	}
	if r.ServerRSSBeforeMiB != nil {
		per := "n/a"
		if r.RSSPerConnKiB != nil {
			per = fmt.Sprintf("%.2f KiB", *r.RSSPerConnKiB)
		}
		row("server RSS", "before %s, idle %s, after %s MiB; per connection %s (idle − before) / subscribed",
			f1(r.ServerRSSBeforeMiB), f1(r.ServerRSSIdleMiB), f1(r.ServerRSSAfterMiB), per)
	}
	phase := "run"
	if r.Mode == "idle" {
		phase = "hold"
	}
	row("CPU, % of one core", "connect: tool %.1f, server %s; %s: tool %.1f, server %s",
		r.CPUSelfConnect, cpu(r.CPUServerConnect), phase, r.CPUSelfRun, cpu(r.CPUServerRun))
	row("tool", "max RSS %.1f MiB, open-file limit %d", r.SelfMaxRSSMiB, r.NofileLimit)
	_ = t.Flush()
}

// counts formats a count map as "k×v, …" in key order, prefixed when not empty.
func counts(prefix string, m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return prefix + strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func f1(v *float64) string {
	if v == nil {
		return "?"
	}
	return fmt.Sprintf("%.1f", *v)
}

func cpu(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v)
}

// dialSpan is the time from the first dial to the last completed one.
type dialSpan struct{ first, last time.Time }

func (d *dialSpan) add(start, done time.Time) {
	if d.first.IsZero() || start.Before(d.first) {
		d.first = start
	}
	if done.After(d.last) {
		d.last = done
	}
}
