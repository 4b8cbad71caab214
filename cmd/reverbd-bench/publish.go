package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// pubResult is what the publishing phase did.
type pubResult struct {
	start, end time.Time      // first request sent, last response received
	accepted   []bool         // by sequence number: the API answered 200
	perChannel []int64        // accepted events per channel index
	nAccepted  int64          // accepted events
	requests   int64          // HTTP requests made
	sent       int64          // events in those requests
	statuses   map[string]int // by status code or transport error, requests
	api        *histogram     // request round-trip times
}

// newHTTPClient returns a keep-alive client with an idle connection per publisher, trusting
// what tlsConfig trusts (nil: the system's roots).
func newHTTPClient(publishers int, tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        publishers * 2,
			MaxIdleConnsPerHost: publishers * 2,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			TLSClientConfig:     tlsConfig,
		},
	}
}

// publish sends opt.events events through the HTTP API, opt.batch per request, from
// opt.publishers concurrent workers, paced at opt.rate events per second (0 = as fast as
// the API answers). Event seq goes to channel seq % K and carries its sequence number and
// send time in its data.
func (b *bench) publish(ctx context.Context) *pubResult {
	o := b.opt
	res := &pubResult{
		accepted:   make([]bool, o.events),
		perChannel: make([]int64, len(b.channels)),
		statuses:   map[string]int{},
		api:        new(histogram),
	}
	nreq := (o.events + o.batch - 1) / o.batch
	work := make(chan int, o.publishers)
	res.start = time.Now()
	go func() {
		defer close(work)
		for r := 0; r < nreq; r++ {
			if o.rate > 0 {
				due := res.start.Add(time.Duration(float64(r*o.batch) / o.rate * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
			}
			select {
			case work <- r:
			case <-ctx.Done():
				return
			}
		}
	}()

	client := newHTTPClient(o.publishers, o.tls)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range o.publishers {
		wg.Go(func() {
			statuses := map[string]int{}
			var requests, sent int64
			for r := range work {
				first, last := r*o.batch, min(o.events, (r+1)*o.batch)
				t0 := time.Now()
				status := b.post(ctx, client, first, last)
				res.api.Record(int64(time.Since(t0)))
				statuses[status]++
				requests++
				sent += int64(last - first)
				if status == "200" {
					for seq := first; seq < last; seq++ {
						res.accepted[seq] = true // distinct indices per worker
					}
				}
			}
			mu.Lock()
			for k, v := range statuses {
				res.statuses[k] += v
			}
			res.requests += requests
			res.sent += sent
			mu.Unlock()
		})
	}
	wg.Wait()
	res.end = time.Now()
	for seq, ok := range res.accepted {
		if ok {
			res.nAccepted++
			res.perChannel[seq%len(b.channels)]++
		}
	}
	return res
}

// post publishes events [first, last) in one request — /events for one, /batch_events for
// more — and returns the response status code, or a short name for a transport error.
func (b *bench) post(ctx context.Context, client *http.Client, first, last int) string {
	o := b.opt
	ts := time.Now().UnixNano()
	body := make([]byte, 0, (last-first)*(o.payload+o.payload/8+128)+32)
	route := "/apps/" + o.appID + "/events"
	if o.batch == 1 {
		body = appendJSONString(append(body, `{"name":"`+benchEvent+`","channels":[`...), b.channelOf(first))
		body = b.appendData(append(body, ']'), first, ts)
	} else {
		route = "/apps/" + o.appID + "/batch_events"
		body = append(body, `{"batch":[`...)
		for seq := first; seq < last; seq++ {
			if seq > first {
				body = append(body, ',')
			}
			body = appendJSONString(append(body, `{"name":"`+benchEvent+`","channel":`...), b.channelOf(seq))
			body = b.appendData(body, seq, ts)
		}
		body = append(body, ']', '}')
	}
	url := b.httpBase + route + "?" + signQuery(o.key, o.secret, http.MethodPost, route, body, ts/int64(time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "error: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, context.Canceled):
			return "canceled"
		case errors.As(err, &ne) && ne.Timeout():
			return "timeout"
		}
		return "error: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}

// channelOf returns the channel event seq is published to.
func (b *bench) channelOf(seq int) string { return b.channels[seq%len(b.channels)] }

// appendData appends the data field of event seq sent at ts and closes the event object.
func (b *bench) appendData(body []byte, seq int, ts int64) []byte {
	data := appendData(make([]byte, 0, b.opt.payload+64), uint64(seq), ts, b.opt.payload)
	body = appendJSONString(append(body, `,"data":`...), string(data))
	return append(body, '}')
}
