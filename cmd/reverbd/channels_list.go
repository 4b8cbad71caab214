package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/config/catalogue"
	"github.com/reverbd/reverbd/registry"
)

const channelsListSynopsis = "[--env-file PATH]"

// listTimeout bounds each request `reverbd channels` makes to the running server.
const listTimeout = 5 * time.Second

// channelsList runs `reverbd channels`: each app's catalogue patterns with, when a server
// answers at the configured address, the live channels, subscriptions and presence users of
// each pattern (GET /apps/{id}/channels, signed with the app's secret, grouped by Match),
// the live channels outside the catalogue by shape and, in warn mode, the shapes counted
// outside it since the server started (channels_outside_catalogue_total on the admin
// listener's /metrics, with its basic auth).
func channelsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reverbd channels", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", "", "Laravel-style .env file to read first (default .env in the working directory, if present)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: reverbd channels %s\n\nLists each app's channel catalogue with the live counts of a running server.\n\nFlags:\n", channelsListSynopsis)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "reverbd channels: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(*envFile, os.Environ())
	if err != nil {
		return err
	}
	base := serverBase(cfg)
	client := &http.Client{Timeout: listTimeout}
	outside, outsideErr := countedOutside(ctx, client, cfg)
	for i := range cfg.Apps {
		app := &cfg.Apps[i]
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		live, liveErr := liveChannels(ctx, client, base, app)
		printApp(stdout, app, base, live, liveErr)
		if app.ChannelsMode == config.ChannelsWarn {
			printCounted(stdout, app.ID, outside, outsideErr)
		}
	}
	return nil
}

// serverBase is the URL of the server's own listener, as this host reaches it.
func serverBase(cfg *config.Config) string {
	scheme := "http"
	if cfg.TLS() {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: endpoint{host: directHost(cfg.ServerHost), port: cfg.ServerPort}.addr()}
	return u.String() + routePrefix(cfg.ServerPath)
}

// liveChannel is one occupied channel as GET /apps/{id}/channels reports it.
type liveChannel struct {
	SubscriptionCount int `json:"subscription_count"`
	UserCount         int `json:"user_count"`
}

// liveChannels asks the server for the app's occupied channels, signed with its secret.
func liveChannels(ctx context.Context, client *http.Client, base string, app *config.App) (map[string]liveChannel, error) {
	path := "/apps/" + app.ID + "/channels"
	q := url.Values{
		"auth_key":       {app.Key},
		"auth_timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
		"auth_version":   {"1.0"},
		"info":           {"subscription_count,user_count"},
	}
	q.Set("auth_signature", registry.Sign(app.Secret, "GET\n"+path+"\n"+signedQuery(q)))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s answered %d: %s", path, res.StatusCode, strings.TrimSpace(string(body)))
	}
	var list struct {
		Channels map[string]liveChannel `json:"channels"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("GET %s: %v", path, err)
	}
	return list.Channels, nil
}

// signedQuery is the query's part of the HTTP API's string to sign: the keys sorted, the
// values as they are (Pusher's HTTP API reference, "Generating authentication signatures").
func signedQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + q.Get(k)
	}
	return strings.Join(parts, "&")
}

// tally is the live figures of a pattern or a shape.
type tally struct{ channels, subscriptions, users int }

func (t *tally) add(c liveChannel) {
	t.channels++
	t.subscriptions += c.SubscriptionCount
	t.users += c.UserCount
}

// printApp writes one app's patterns, with the live figures when live is there.
func printApp(w io.Writer, app *config.App, base string, live map[string]liveChannel, liveErr error) {
	mode := app.ChannelsMode
	if mode == "" {
		mode = config.ChannelsOff
	}
	if app.Channels == nil {
		fmt.Fprintf(w, "app %s: no channel catalogue\n", app.ID)
	} else {
		file := app.Channels.File
		if file == "" {
			file = "inline in the apps file"
		}
		fmt.Fprintf(w, "app %s: %s mode, catalogue %s (%d patterns)\n", app.ID, mode, file, len(app.Channels.Entries))
	}
	byEntry := map[*catalogue.Entry]*tally{}
	byShape := map[string]*tally{}
	for name, c := range live {
		var e *catalogue.Entry
		if app.Channels != nil {
			e, _ = app.Channels.Match(name)
		}
		if e != nil {
			if byEntry[e] == nil {
				byEntry[e] = &tally{}
			}
			byEntry[e].add(c)
			continue
		}
		shape := registry.Shape(name)
		if byShape[shape] == nil {
			byShape[shape] = &tally{}
		}
		byShape[shape].add(c)
	}
	switch {
	case liveErr != nil:
		fmt.Fprintf(w, "  no live counts: no server answers at %s (%v)\n", base, shortError(liveErr))
	default:
		fmt.Fprintf(w, "  live counts from %s\n", base)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if app.Channels != nil {
		fmt.Fprintln(tw, "  NAME\tPATTERN\tKINDS\tOPTIONS\tCHANNELS\tSUBSCRIPTIONS\tUSERS")
		for _, e := range app.Channels.Entries {
			t := byEntry[e]
			if t == nil {
				t = &tally{}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", e.Name, e.Pattern, kinds(e), options(e), figures(t, liveErr))
		}
	}
	if len(byShape) > 0 {
		label := "outside the catalogue"
		if app.Channels == nil {
			label = "by shape"
		}
		fmt.Fprintf(tw, "  %s:\t\t\t\t\t\t\n", label)
		shapes := make([]string, 0, len(byShape))
		for s := range byShape {
			shapes = append(shapes, s)
		}
		slices.Sort(shapes)
		for _, s := range shapes {
			fmt.Fprintf(tw, "  \t%s\t\t\t%s\n", s, figures(byShape[s], nil))
		}
	}
	tw.Flush()
}

func figures(t *tally, liveErr error) string {
	if liveErr != nil {
		return "-\t-\t-"
	}
	return fmt.Sprintf("%d\t%d\t%d", t.channels, t.subscriptions, t.users)
}

func kinds(e *catalogue.Entry) string {
	ks := make([]string, len(e.Kinds))
	for i, k := range e.Kinds {
		ks[i] = string(k)
	}
	return strings.Join(ks, ",")
}

func options(e *catalogue.Entry) string {
	var o []string
	if e.Cache {
		o = append(o, "cache")
	}
	if e.AcceptClientEventsFrom != "" {
		o = append(o, "client_events="+e.AcceptClientEventsFrom)
	}
	if e.MaxPresenceMembers > 0 {
		o = append(o, "max_presence_members="+strconv.Itoa(e.MaxPresenceMembers))
	}
	if e.MaxSubscriptions > 0 {
		o = append(o, "max_subscriptions="+strconv.Itoa(e.MaxSubscriptions))
	}
	if len(o) == 0 {
		return "-"
	}
	return strings.Join(o, " ")
}

// shortError drops the request's URL (it carries the signature) from a transport error.
func shortError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// outsideCount is one series of channels_outside_catalogue_total.
type outsideCount struct {
	app, source, shape string
	value              float64
}

// countedOutside reads channels_outside_catalogue_total from the admin listener's /metrics:
// the counts the server keeps since it started of the channels warn mode let through. The
// metrics are the one place both the HTTP API and the WebSocket side count them, and the
// admin listener's basic auth is in the same configuration as the apps' secrets.
func countedOutside(ctx context.Context, client *http.Client, cfg *config.Config) ([]outsideCount, error) {
	if !cfg.MetricsOn() {
		return nil, errors.New("the admin listener's metrics are off (set REVERB_ADMIN_PORT, with REVERB_METRICS_ENABLED=true)")
	}
	u := "http://" + endpoint{host: directHost(cfg.AdminHost), port: cfg.AdminPort}.addr() + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(cfg.AdminUsername, cfg.AdminPassword)
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no admin listener answers at %s (%v)", u, shortError(err))
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s answered %d", u, res.StatusCode)
	}
	name := cfg.MetricsPrefix + "channels_outside_catalogue_total{"
	var counts []outsideCount
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok {
			continue
		}
		labels, value, ok := parseSeries(rest)
		if !ok {
			continue
		}
		counts = append(counts, outsideCount{app: labels["app_id"], source: labels["source"], shape: labels["shape"], value: value})
	}
	return counts, sc.Err()
}

// parseSeries reads `name="value",...} 12` (what follows a series' opening brace in the
// Prometheus text format).
func parseSeries(s string) (map[string]string, float64, bool) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, ", ")
		if rest, ok := strings.CutPrefix(s, "}"); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return labels, v, err == nil
		}
		name, rest, ok := strings.Cut(s, `="`)
		if !ok {
			return nil, 0, false
		}
		var value strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
				if rest[i] == 'n' {
					value.WriteByte('\n')
					continue
				}
			}
			value.WriteByte(rest[i])
		}
		if i == len(rest) {
			return nil, 0, false
		}
		labels[name] = value.String()
		s = rest[i+1:]
	}
}

// printCounted writes the shapes outside the app's catalogue counted since the server started.
func printCounted(w io.Writer, appID string, counts []outsideCount, err error) {
	if err != nil {
		fmt.Fprintf(w, "  outside the catalogue since the start: unknown: %v\n", err)
		return
	}
	var mine []outsideCount
	for _, c := range counts {
		if c.app == appID {
			mine = append(mine, c)
		}
	}
	if len(mine) == 0 {
		fmt.Fprintln(w, "  outside the catalogue since the start: none")
		return
	}
	slices.SortFunc(mine, func(a, b outsideCount) int {
		if a.value != b.value {
			return int(b.value - a.value)
		}
		return strings.Compare(a.shape+a.source, b.shape+b.source)
	})
	fmt.Fprintln(w, "  outside the catalogue since the start (warn mode):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    SHAPE\tSOURCE\tCOUNT")
	for _, c := range mine {
		fmt.Fprintf(tw, "    %s\t%s\t%s\n", c.shape, c.source, strconv.FormatFloat(c.value, 'f', -1, 64))
	}
	tw.Flush()
}
