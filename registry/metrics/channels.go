package metrics

import "github.com/prometheus/client_golang/prometheus"

// MaxShapes is the most channel shapes one app gets a label value for; the channels of
// further shapes are counted under OtherShape, each kind apart.
const MaxShapes = 100

// OtherShape is the shape label of the channels past an app's MaxShapes.
const OtherShape = "other"

type shapeKey struct{ kind, shape string }

// Channels is the handles of one channel shape of an app (see registry.Shape): the channels
// and subscriptions of that shape on this node and the frames published on them. Its
// methods are safe for concurrent use and do nothing on a nil *Channels.
type Channels struct {
	app                     *App
	kind, shape             string
	channels, subscriptions prometheus.Gauge
	frames                  prometheus.Counter
}

// Channels returns the handles of the channels of kind (registry.Kind.Name) and shape
// (registry.Shape). The first MaxShapes shapes of the app get handles of their own; later
// ones share their kind's OtherShape handles. A removed app (SetApps) gets nil, which counts
// nothing.
func (a *App) Channels(kind, shape string) *Channels {
	if a == nil {
		return nil
	}
	a.retireMu.RLock()
	defer a.retireMu.RUnlock()
	if a.retired {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := shapeKey{kind, shape}
	if c := a.shapes[k]; c != nil {
		return c
	}
	if a.named >= MaxShapes {
		k.shape = OtherShape
		if c := a.shapes[k]; c != nil {
			return c
		}
	} else {
		a.named++
	}
	l := prometheus.Labels{"app_id": a.id, "kind": k.kind, "shape": k.shape}
	c := &Channels{
		app: a, kind: k.kind, shape: k.shape,
		channels:      a.m.channels.With(l),
		subscriptions: a.m.subscriptions.With(l),
		frames:        a.m.channelFrames.With(l),
	}
	a.shapes[k] = c
	return c
}

// App returns the app the channels belong to.
func (c *Channels) App() *App {
	if c == nil {
		return nil
	}
	return c.app
}

// Shape returns the shape label value (OtherShape past the app's MaxShapes).
func (c *Channels) Shape() string {
	if c == nil {
		return ""
	}
	return c.shape
}

// Opened counts a channel that got its first local subscriber; Emptied one that lost its last.
func (c *Channels) Opened() {
	if c != nil {
		c.channels.Inc()
	}
}

// Emptied is the opposite of Opened.
func (c *Channels) Emptied() {
	if c != nil {
		c.channels.Dec()
	}
}

// Subscribed counts a local subscription; Unsubscribed one that ended.
func (c *Channels) Subscribed() {
	if c != nil {
		c.subscriptions.Inc()
	}
}

// Unsubscribed is the opposite of Subscribed.
func (c *Channels) Unsubscribed() {
	if c != nil {
		c.subscriptions.Dec()
	}
}

// Sent counts one publish on a channel of this shape: frames queued on its subscribers,
// bytes in all. They count in the app's ws_messages_sent_total and socket_transmitted_bytes
// too.
func (c *Channels) Sent(frames, bytes int) {
	if c == nil || frames == 0 {
		return
	}
	c.frames.Add(float64(frames))
	c.app.Sent(frames, bytes)
}
