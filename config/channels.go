package config

import (
	"fmt"
	"strings"

	"github.com/reverbd/reverbd/config/catalogue"
)

// loadCatalogue reads the catalogue file at path and checks it (catalogue.Check): a
// catalogue with a problem is refused, every problem on a line of the error.
func loadCatalogue(path string) (*catalogue.Catalogue, error) {
	cat, err := catalogue.Load(path)
	if err != nil {
		return nil, err // *fs.PathError and catalogue.Problems name the file
	}
	return checked(cat)
}

// parseCatalogue reads an inline catalogue (the apps file's channels) and checks it.
func parseCatalogue(data []byte) (*catalogue.Catalogue, error) {
	cat, err := catalogue.Parse(data)
	if err != nil {
		return nil, err
	}
	return checked(cat)
}

func checked(cat *catalogue.Catalogue) (*catalogue.Catalogue, error) {
	if ps := catalogue.Check(cat); len(ps) > 0 {
		return nil, catalogue.Problems(ps)
	}
	return cat, nil
}

// envCatalogue loads REVERB_CHANNELS_FILE for the REVERB_APP_* app.
func (c *Config) envCatalogue() (*catalogue.Catalogue, error) {
	if c.ChannelsFile == "" {
		return nil, nil
	}
	cat, err := loadCatalogue(c.ChannelsFile)
	if err != nil {
		return nil, fmt.Errorf("config: REVERB_CHANNELS_FILE: %w", err)
	}
	return cat, nil
}

// validateChannels checks an app's catalogue mode: off, warn or strict, and warn or strict
// only with a catalogue to enforce.
func validateChannels(a *App, name func(field string) string) error {
	switch a.ChannelsMode {
	case "", ChannelsOff, ChannelsWarn, ChannelsStrict: // "": the apps file left it out
	default:
		return fmt.Errorf("config: %s must be off, warn or strict, got %q", name("channels_mode"), a.ChannelsMode)
	}
	if a.ChannelsMode != "" && a.ChannelsMode != ChannelsOff && a.Channels == nil {
		field := name("channels_mode")
		fix := "give the app channels_file or channels"
		if strings.HasPrefix(field, "REVERB_") {
			fix = "set REVERB_CHANNELS_FILE"
		}
		return fmt.Errorf("config: %s is %s but the app has no channel catalogue: %s", field, a.ChannelsMode, fix)
	}
	return nil
}
