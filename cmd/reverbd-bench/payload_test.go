package main

import (
	"encoding/json"
	"testing"
)

// deliveredFrame builds the frame a server relays for data on channel.
func deliveredFrame(channel string, data []byte) []byte {
	b := []byte(`{"event":"` + benchEvent + `","channel":`)
	b = appendJSONString(b, channel)
	b = append(b, `,"data":`...)
	b = appendJSONString(b, string(data))
	return append(b, '}')
}

func TestAppendDataSize(t *testing.T) {
	for _, size := range []int{0, 10, 40, 41, 100, 1000, 8192} {
		d := appendData(nil, 123456, 1700000000123456789, size)
		if size >= 60 && len(d) != size {
			t.Errorf("size %d: got %d bytes", size, len(d))
		}
		var v struct {
			Seq uint64 `json:"seq"`
			TS  int64  `json:"ts"`
			Pad string `json:"pad"`
		}
		if err := json.Unmarshal(d, &v); err != nil || v.Seq != 123456 || v.TS != 1700000000123456789 {
			t.Errorf("size %d: %s does not decode: %v %+v", size, d, err, v)
		}
	}
}

func TestParseBench(t *testing.T) {
	data := appendData(nil, 42, 1700000000000000007, 200)
	for name, frame := range map[string][]byte{
		"string data":     deliveredFrame("presence-seq.1", data),
		"object data":     []byte(`{"event":"reverbd-bench","channel":"c","data":` + string(data) + `}`),
		"channel after":   []byte(`{"event":"reverbd-bench","data":` + string(appendJSONString(nil, string(data))) + `,"channel":"seq"}`),
		"spaces in JSON":  []byte(`{"event": "reverbd-bench", "data": {"seq": 42, "ts": 1700000000000000007}}`),
		"minimal payload": deliveredFrame("c", appendData(nil, 42, 1700000000000000007, 0)),
	} {
		seq, ts, ok := parseBench(frame)
		if !ok || seq != 42 || ts != 1700000000000000007 {
			t.Errorf("%s: parseBench(%s) = %d, %d, %v", name, frame, seq, ts, ok)
		}
		if ev := frameEvent(frame); string(ev) != benchEvent {
			t.Errorf("%s: frameEvent = %q", name, ev)
		}
	}
	for _, bad := range []string{`{"event":"x"}`, `{"event":"x","data":"{}"}`, `{"data":"{\"seq\":1}"}`, `{"data":"{\"seq\":\"a\",\"ts\":1}"}`} {
		if _, _, ok := parseBench([]byte(bad)); ok {
			t.Errorf("parseBench(%s) should fail", bad)
		}
	}
}

func TestControlFrames(t *testing.T) {
	est := []byte(`{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":30}"}`)
	if got := socketIDOf(est); got != "123.456" {
		t.Errorf("socketIDOf = %q", got)
	}
	if got := string(frameEvent(est)); got != "pusher:connection_established" {
		t.Errorf("frameEvent = %q", got)
	}
	for frame, want := range map[string]int{
		`{"event":"pusher:error","data":"{\"code\":4100,\"message\":\"Over capacity\"}"}`: 4100,
		`{"event":"pusher:error","data":{"code":null,"message":"x"}}`:                     0,
		`{"event":"pusher:error","data":{"code": 4009,"message":"x"}}`:                    4009,
	} {
		if got := errorCode([]byte(frame)); got != want {
			t.Errorf("errorCode(%s) = %d, want %d", frame, got, want)
		}
	}
	if ev := frameEvent([]byte(`{"event":"pusher:pong"}`)); string(ev) != "pusher:pong" {
		t.Errorf("frameEvent(pong) = %q", ev)
	}
}

func TestUserIDOf(t *testing.T) {
	for frame, want := range map[string]string{
		`{"event":"pusher_internal:member_added","channel":"presence-x","data":"{\"user_id\":\"bench-12\",\"user_info\":null}"}`: "bench-12",
		`{"event":"pusher_internal:member_added","channel":"presence-x","data":{"user_id":7}}`:                                   "7",
		`{"event":"x"}`: "",
	} {
		if got := userIDOf([]byte(frame)); got != want {
			t.Errorf("userIDOf(%s) = %q, want %q", frame, got, want)
		}
	}
}
