package live

import "time"

// Series is the charts' data: a column per figure and a row per reading, oldest first. A
// value that is not known (a rate on the first reading, a percentile without events, an app
// before it was seen) is null.
type Series struct {
	// Time is each reading's time in Unix seconds.
	Time        []float64             `json:"t"`
	QueueEvents []*float64            `json:"queue_events"`
	All         AppSeries             `json:"all"`
	Apps        map[string]*AppSeries `json:"apps"`
}

// AppSeries is one app's columns (or every app's, in Series.All).
type AppSeries struct {
	Connections          []*float64 `json:"connections"`
	MessagesInPerSecond  []*float64 `json:"messages_in_per_second"`
	MessagesOutPerSecond []*float64 `json:"messages_out_per_second"`
	DeliveryP50          []*float64 `json:"delivery_p50"`
	DeliveryP99          []*float64 `json:"delivery_p99"`
}

// point is one reading's row of the series.
type point struct {
	at    time.Time
	queue *float64
	all   row
	apps  map[string]row
}

type row struct{ connections, in, out, p50, p99 *float64 }

// pointOf is the row of the series for st.
func pointOf(st Stats) point {
	p := point{at: st.Time, all: rowOf(st.All), apps: make(map[string]row, len(st.Apps))}
	if st.Queue != nil {
		p.queue = &st.Queue.Events
	}
	for _, a := range st.Apps {
		p.apps[a.AppID] = rowOf(a)
	}
	return p
}

func rowOf(a AppStats) row {
	c := a.Connections
	return row{connections: &c, in: a.MessagesInPerSecond, out: a.MessagesOutPerSecond, p50: a.Delivery.P50, p99: a.Delivery.P99}
}

// seriesOf lays the points out in columns.
func seriesOf(points []point) Series {
	s := Series{
		Time:        make([]float64, 0, len(points)),
		QueueEvents: make([]*float64, 0, len(points)),
		All:         newAppSeries(len(points)),
		Apps:        map[string]*AppSeries{},
	}
	for _, p := range points {
		for id := range p.apps {
			if s.Apps[id] == nil {
				a := newAppSeries(len(points))
				s.Apps[id] = &a
			}
		}
	}
	for _, p := range points {
		s.Time = append(s.Time, float64(p.at.UnixMilli())/1000)
		s.QueueEvents = append(s.QueueEvents, p.queue)
		s.All.append(p.all)
		for id, a := range s.Apps {
			a.append(p.apps[id]) // a missing app's row is all null
		}
	}
	return s
}

func newAppSeries(n int) AppSeries {
	return AppSeries{
		Connections:          make([]*float64, 0, n),
		MessagesInPerSecond:  make([]*float64, 0, n),
		MessagesOutPerSecond: make([]*float64, 0, n),
		DeliveryP50:          make([]*float64, 0, n),
		DeliveryP99:          make([]*float64, 0, n),
	}
}

func (a *AppSeries) append(r row) {
	a.Connections = append(a.Connections, r.connections)
	a.MessagesInPerSecond = append(a.MessagesInPerSecond, r.in)
	a.MessagesOutPerSecond = append(a.MessagesOutPerSecond, r.out)
	a.DeliveryP50 = append(a.DeliveryP50, r.p50)
	a.DeliveryP99 = append(a.DeliveryP99, r.p99)
}
