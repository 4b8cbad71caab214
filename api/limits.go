package api

import (
	"math"
	"time"

	"github.com/reverbd/reverbd/registry"
)

// Default limits of a trigger, as Pusher documents them
// (https://pusher.com/docs/channels/library_auth_reference/rest-api/); Params may change each.
const (
	defaultMaxEventNameLength = 200       // characters
	defaultMaxEventDataSize   = 10 * 1024 // bytes of the data string; past it 413
	defaultMaxChannels        = 100       // channels of one trigger
	defaultMaxBatchSize       = 10        // events of one batch

	defaultTimestampWindow = 600 * time.Second
)

// Body cap when REVERB_MAX_REQUEST_SIZE is unset: with the default limits it fits a
// batch_events body of defaultMaxBatchSize items that are each at every limit and in the
// costliest JSON a client may send:
//
//	data       defaultMaxEventDataSize bytes, each escaped as \u00XX (6 bytes)   61,440
//	name       defaultMaxEventNameLength characters, each a surrogate pair
//	           \uXXXX\uXXXX (12 bytes; PHP's json_encode escapes so)            2,400
//	channel    registry.DefaultMaxChannelNameLength (no escaping needed)          200
//	socket_id  two 20-digit numbers and a dot                                      41
//	info       user_count,subscription_count                                       29
//	keys, quotes, braces and commas of the item                                    59
//
// That is 64,169 bytes an item and 641,711 for the batch with its wrapper. The cap rounds it
// up to 640 KiB (655,360 bytes), which leaves room for whitespace. One event on 100 channels
// at every limit takes about 85 KB. Raised limits raise the cap with them (see bodyCap).
const (
	fullItemFixed = len(`{"name":"","data":"","channel":"","socket_id":"","info":""}`) + 41 + len("user_count,subscription_count")
	fullItemSize  = fullItemFixed + 6*defaultMaxEventDataSize + 12*defaultMaxEventNameLength + registry.DefaultMaxChannelNameLength
	fullBatchSize = len(`{"batch":[]}`) + defaultMaxBatchSize*fullItemSize + defaultMaxBatchSize - 1
	// fullEventFixed is what one event on many channels holds besides its data, name and
	// channel names: each channel name also takes two quotes and a comma.
	fullEventFixed = len(`{"name":"","data":"","channels":[],"socket_id":"","info":""}`) + 41 + len("user_count,subscription_count")
	// DefaultMaxBody is the body cap in bytes when Params.MaxRequestSize is zero and the
	// limits are the defaults.
	DefaultMaxBody = 640 << 10
)

// The cap must hold the batch; this line does not compile otherwise.
var _ [DefaultMaxBody - fullBatchSize]struct{}

// limits are the trigger limits an API enforces; a zero field means no limit.
type limits struct {
	eventName   int // characters of an event name; 400 past it
	eventData   int // bytes of an event's data string; 413 past it
	channels    int // channels of one trigger; 400 past it
	batch       int // events of one batch; 400 past it
	channelName int // characters of a channel name; 400 past it
}

// bodyCap is the body cap when MaxRequestSize is zero: DefaultMaxBody, or more when raised
// limits need it, so that the costliest batch within every limit, and the costliest single
// event on the most channels, still fit (figures as in the table above). A limit that is off
// bounds nothing, so what it takes part in is left to DefaultMaxBody.
func bodyCap(l limits) int64 {
	limit := int64(DefaultMaxBody)
	if l.eventData == 0 || l.eventName == 0 || l.channelName == 0 {
		return limit
	}
	// Data and name as escaped as JSON allows.
	payload := satAdd(satMul(6, int64(l.eventData)), satMul(12, int64(l.eventName)))
	if l.batch > 0 {
		item := satAdd(payload, int64(fullItemFixed+l.channelName))
		commas := int64(l.batch - 1)
		batch := satAdd(satMul(int64(l.batch), item), commas+int64(len(`{"batch":[]}`)))
		limit = max(limit, batch)
	}
	if l.channels > 0 {
		names := satMul(int64(l.channels), int64(l.channelName+3))
		limit = max(limit, satAdd(satAdd(payload, names), int64(fullEventFixed)))
	}
	return limit
}

// satMul and satAdd multiply and add non-negative numbers, stopping at math.MaxInt64.
func satMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
